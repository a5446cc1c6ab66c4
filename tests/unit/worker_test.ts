import assert from "node:assert/strict";
import type {
  Beat,
  Claim,
  ClaimedJob,
  Completion,
  Failure,
  JobHandler,
  JobStore,
  MessageQueue,
  QueueMessage,
} from "../../worker/contract.ts";
import { PermanentJobError } from "../../worker/contract.ts";
import { abortableSleep } from "../../worker/handlers.ts";
import { createWorker } from "../../worker/worker.ts";
import type { Lane } from "../../supabase/functions/_shared/lanes.ts";

const jobId = (n: number) => `4f1d2c3b-5a69-4e7f-8a9b-${String(n).padStart(12, "0")}`;
const JOB_ID = jobId(1);

const job = (n: number): ClaimedJob => ({
  job_id: jobId(n),
  attempt: 1,
  lease: `lease-${n}`,
  customer_id: "acme",
  package_size: 3,
  priority_level: 0,
  payload: {},
});

const message = (n = 1, body = JSON.stringify({ job_id: jobId(n) })): QueueMessage => ({
  body,
  receiptHandle: `rh-${n}`,
  receiveCount: 1,
  lane: "default",
});

interface Events {
  deleted: string[];
  /** [receipt handle, seconds] per message. */
  visibility: [string, number][];
  calls: string[];
  /** How many messages each receive asked for. */
  asked: number[];
  /** The jobs of each heartbeat call. */
  beats: Beat[][];
  completed: Completion[];
  /** [receipt handle, delay seconds] per copy sent again. */
  resent: [string, number][];
  /** sendAgain fails while set. */
  failResend?: boolean;
}

const newEvents = (): Events => ({
  deleted: [],
  visibility: [],
  calls: [],
  asked: [],
  beats: [],
  completed: [],
  resent: [],
});

function fakeQueue(messages: QueueMessage[], events: Events): MessageQueue {
  return {
    async receive(lane, max) {
      events.asked.push(max);
      const next: QueueMessage[] = [];
      for (let i = 0; i < messages.length && next.length < max;) {
        if (messages[i]!.lane === lane) next.push(...messages.splice(i, 1));
        else i++;
      }
      if (next.length > 0) return next;
      await new Promise((r) => setTimeout(r, 5));
      return [];
    },
    delete(ms) {
      events.deleted.push(...ms.map((m) => m.receiptHandle));
      return Promise.resolve();
    },
    setVisibility(ms, seconds) {
      events.visibility.push(...ms.map((m): [string, number] => [m.receiptHandle, seconds]));
      return Promise.resolve();
    },
    sendAgain(copies) {
      if (events.failResend) return Promise.reject(new Error("SQS is away"));
      events.resent.push(
        ...copies.map((c): [string, number] => [c.message.receiptHandle, c.delaySeconds]),
      );
      return Promise.resolve();
    },
  };
}

/** Claims every named job (as job(n) of its number) unless `claimOf` says otherwise. */
function fakeJobs(
  events: Events,
  overrides: Partial<JobStore> & { claimOf?(id: string): Claim; lost?: Set<string> } = {},
): JobStore {
  const claimOf = overrides.claimOf ??
    ((id: string): Claim => ({ outcome: "claimed", ...job(Number(id.slice(-12))) }));
  return {
    claim: (ids) => {
      events.calls.push(`claim:${ids.length}`);
      return Promise.resolve(ids.map(claimOf));
    },
    heartbeat: (_w, beats) => {
      events.beats.push(beats);
      return Promise.resolve(beats.map((b) => !overrides.lost?.has(b.jobId)));
    },
    complete: (items) => {
      events.calls.push(`complete:${items.length}`);
      events.completed.push(...items);
      return Promise.resolve(items.map(() => true));
    },
    fail: (_j, _l, error, retryable) => {
      events.calls.push(`fail:${retryable}:${error}`);
      return Promise.resolve({ outcome: "retrying", attempt: 1, retry_in_seconds: 30 } as Failure);
    },
    release: () => {
      events.calls.push("release");
      return Promise.resolve(true);
    },
    ...overrides,
  };
}

interface RunOptions {
  jobs: JobStore;
  queue: MessageQueue;
  handler: JobHandler;
  graceMs?: number;
  concurrency?: number;
  timeoutMs?: number;
  heartbeatMs?: number;
  /** Collects the worker's log lines. */
  logs?: string[];
  lanes?: Lane[];
  laneShare?: number;
  /** The long poll (default 0: the fake queue answers at once either way). */
  waitSeconds?: number;
}

/** Runs a worker until `until()` holds, then shuts it down. */
async function runUntil(options: RunOptions, until: () => boolean): Promise<void> {
  const worker = createWorker({
    workerId: "w1",
    jobs: options.jobs,
    queue: options.queue,
    handler: options.handler,
    concurrency: options.concurrency ?? 10,
    jobTimeoutMs: options.timeoutMs ?? 60_000,
    heartbeatMs: options.heartbeatMs ?? 10,
    visibilitySeconds: 60,
    waitSeconds: options.waitSeconds ?? 0,
    shutdownGraceMs: options.graceMs ?? 1_000,
    log: (line) => options.logs?.push(line),
    retryDelayMs: () => 5,
    lanes: options.lanes,
    laneShare: options.laneShare,
  });
  const running = worker.run();
  const deadline = Date.now() + 3_000;
  while (!until() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(until(), "the condition was not reached within 3 s");
  await worker.shutdown();
  await running;
}

const notBeat = (c: string) => !c.startsWith("heartbeat");

Deno.test("worker completes a claimed job, then deletes its message", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([message()], events),
    handler: () => Promise.resolve({ ok: 1 }),
  }, () => events.deleted.length > 0);
  assert.deepEqual(events.calls, ["claim:1", "complete:1"]);
  assert.deepEqual(events.completed, [{ jobId: JOB_ID, lease: "lease-1", result: { ok: 1 } }]);
  assert.deepEqual(events.deleted, ["rh-1"]);
});

Deno.test("a receive batch is claimed in one call and its jobs run side by side", async () => {
  const events = newEvents();
  let inFlight = 0;
  let most = 0;
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([1, 2, 3, 4, 5].map((n) => message(n)), events),
    handler: async (_job, { signal }) => {
      most = Math.max(most, ++inFlight);
      await abortableSleep(30, signal);
      inFlight--;
    },
  }, () => events.deleted.length === 5);
  assert.equal(events.calls[0], "claim:5", "one claim call for the five messages");
  assert.equal(most, 5, "all five handlers ran at once");
  assert.equal(events.completed.length, 5);
});

Deno.test("the worker never holds more jobs than its concurrency, and asks SQS for no more", async () => {
  const events = newEvents();
  let inFlight = 0;
  let most = 0;
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue(Array.from({ length: 12 }, (_, i) => message(i + 1)), events),
    handler: async (_job, { signal }) => {
      most = Math.max(most, ++inFlight);
      await abortableSleep(20, signal);
      inFlight--;
    },
    concurrency: 3,
  }, () => events.deleted.length === 12);
  assert.equal(most, 3);
  assert.ok(events.asked.every((n) => n >= 1 && n <= 3), `asked ${events.asked}`);
  assert.equal(events.asked[0], 3, "an idle worker asks for as many as it has slots");
});

Deno.test("a worker with 15 free slots asks SQS for 10 at most", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([], events),
    handler: () => Promise.resolve(),
    concurrency: 15,
  }, () => events.asked.length > 0);
  assert.equal(events.asked[0], 10);
});

Deno.test("one heartbeat covers every held lease and extends every message's visibility", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([1, 2, 3].map((n) => message(n)), events),
    handler: (_job, { signal }) => abortableSleep(10_000, signal),
    heartbeatMs: 15,
  }, () => events.beats.some((b) => b.length === 3));
  const full = events.beats.find((b) => b.length === 3)!;
  assert.deepEqual(full.map((b) => b.jobId).sort(), [jobId(1), jobId(2), jobId(3)]);
  assert.deepEqual(full.map((b) => b.lease).sort(), ["lease-1", "lease-2", "lease-3"]);
  for (const rh of ["rh-1", "rh-2", "rh-3"]) {
    assert.ok(events.visibility.some(([h, s]) => h === rh && s === 60), `${rh} extended`);
  }
});

Deno.test("an idle worker still heartbeats, with no jobs", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([], events),
    handler: () => Promise.resolve(),
  }, () => events.beats.length >= 2);
  assert.deepEqual(events.beats[0], []);
});

Deno.test("a lost lease stops that handler at once; the others go on", async () => {
  const events = newEvents();
  const stopped: string[] = [];
  await runUntil({
    jobs: fakeJobs(events, { lost: new Set([jobId(2)]) }),
    queue: fakeQueue([1, 2].map((n) => message(n)), events),
    handler: async (job, { signal }) => {
      try {
        await abortableSleep(job.job_id === jobId(2) ? 10_000 : 80, signal);
      } catch (error) {
        stopped.push(job.job_id);
        throw error;
      }
    },
  }, () => events.deleted.length === 2);
  assert.deepEqual(stopped, [jobId(2)]);
  assert.deepEqual(events.completed.map((c) => c.jobId), [jobId(1)], "only job 1 completes");
  assert.ok(!events.calls.some((c) => c.startsWith("fail")), "a lost lease records nothing");
});

Deno.test("worker acknowledges duplicate deliveries of finished, unknown or held jobs", async () => {
  for (const outcome of ["finished", "unknown_job", "leased"] as const) {
    const events = newEvents();
    await runUntil({
      jobs: fakeJobs(events, { claimOf: (id) => ({ outcome, job_id: id }) }),
      queue: fakeQueue([message()], events),
      handler: () => Promise.reject(new Error("must not run")),
    }, () => events.deleted.length > 0);
    assert.deepEqual(events.deleted, ["rh-1"], outcome);
    assert.deepEqual(events.calls, ["claim:1"], outcome);
  }
});

Deno.test("worker hides a message that came before its retry was due", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events, {
      claimOf: (id) => ({ outcome: "not_due", job_id: id, retry_in_seconds: 90 }),
    }),
    queue: fakeQueue([message()], events),
    handler: () => Promise.reject(new Error("must not run")),
  }, () => events.visibility.length > 0);
  assert.deepEqual(events.visibility, [["rh-1", 90]]);
  assert.deepEqual(events.deleted, []);
});

Deno.test("a capped job is sent again delayed, then its message deleted: no receive spent", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events, {
      claimOf: (id) => ({ outcome: "capped", job_id: id, retry_in_seconds: 2 }),
    }),
    queue: fakeQueue([message(1), message(2)], events),
    handler: () => Promise.reject(new Error("must not run")),
  }, () => events.deleted.length === 2);
  assert.deepEqual(events.resent, [["rh-1", 2], ["rh-2", 2]]);
  assert.deepEqual(events.deleted.sort(), ["rh-1", "rh-2"]);
  assert.deepEqual(events.visibility, [], "no receive is spent waiting");
});

Deno.test("a capped job whose copy cannot be sent keeps its message", async () => {
  const events = newEvents();
  events.failResend = true;
  const logs: string[] = [];
  await runUntil({
    jobs: fakeJobs(events, {
      claimOf: (id) => ({ outcome: "capped", job_id: id, retry_in_seconds: 2 }),
    }),
    queue: fakeQueue([message()], events),
    handler: () => Promise.reject(new Error("must not run")),
    logs,
  }, () => logs.some((l) => l.includes("send capped job again failed")));
  assert.deepEqual(events.deleted, [], "the only copy is kept; it comes back after its visibility");
});

Deno.test("a retryable failure keeps the message, hidden until the retry", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([message()], events),
    handler: () => Promise.reject(new Error("directory timed out")),
  }, () => events.visibility.some(([, s]) => s === 30));
  assert.deepEqual(events.calls.filter(notBeat), ["claim:1", "fail:true:directory timed out"]);
  assert.deepEqual(events.deleted, []);
});

Deno.test("a permanent failure is reported as not retryable and the message deleted", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events, {
      fail: (_j, _l, error, retryable) => {
        events.calls.push(`fail:${retryable}:${error}`);
        return Promise.resolve({ outcome: "failed", attempt: 1 });
      },
    }),
    queue: fakeQueue([message()], events),
    handler: () => Promise.reject(new PermanentJobError("listing is invalid")),
  }, () => events.deleted.length > 0);
  assert.deepEqual(events.calls, ["claim:1", "fail:false:listing is invalid"]);
});

Deno.test("a message that names no job is left for SQS to dead-letter", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([message(1, "not json"), message(2, JSON.stringify({ job_id: "x" }))], events),
    handler: () => Promise.resolve(),
  }, () => events.asked.length >= 2);
  assert.deepEqual(events.calls, []);
  assert.deepEqual(events.deleted, []);
  assert.deepEqual(events.visibility, []);
});

Deno.test("worker claims the job id the message names, lower-cased", async () => {
  const events = newEvents();
  const claimed: string[] = [];
  await runUntil({
    jobs: fakeJobs(events, {
      claimOf: (id) => {
        claimed.push(id);
        return { outcome: "finished", job_id: id };
      },
    }),
    queue: fakeQueue([message(1, JSON.stringify({ job_id: JOB_ID.toUpperCase() }))], events),
    handler: () => Promise.resolve(),
  }, () => events.deleted.length > 0);
  assert.deepEqual(claimed, [JOB_ID]);
});

Deno.test("a claim the database cannot take keeps its messages hidden and stops receiving until it can", async () => {
  const events = newEvents();
  let failures = 3;
  let receivesBeforeClaim: number | undefined;
  const jobs = fakeJobs(events);
  await runUntil({
    jobs: {
      ...jobs,
      claim: (ids, w) => {
        receivesBeforeClaim ??= failures === 0 ? events.asked.length : undefined;
        if (failures-- > 0) {
          events.calls.push("claim:refused");
          return Promise.reject(new Error("connection refused"));
        }
        return jobs.claim(ids, w);
      },
    },
    queue: fakeQueue([message(1), message(2)], events),
    handler: () => Promise.resolve(),
  }, () => events.deleted.length === 2);
  assert.deepEqual(events.calls.slice(0, 4), [
    "claim:refused",
    "claim:refused",
    "claim:refused",
    "claim:2",
  ]);
  assert.equal(receivesBeforeClaim, 1, "no receive while the claim could not go through");
  assert.ok(
    events.visibility.filter(([h, s]) => h === "rh-1" && s === 60).length >= 3,
    "the messages were kept hidden meanwhile",
  );
  assert.deepEqual(events.completed.map((c) => c.jobId).sort(), [jobId(1), jobId(2)]);
});

Deno.test("a completion that fails is tried again while the lease holds", async () => {
  const events = newEvents();
  let failures = 2;
  const jobs = fakeJobs(events);
  await runUntil({
    jobs: {
      ...jobs,
      complete: (items) => {
        if (failures-- > 0) return Promise.reject(new Error("connection terminated"));
        return jobs.complete(items);
      },
    },
    queue: fakeQueue([message()], events),
    handler: () => Promise.resolve("done"),
  }, () => events.deleted.length > 0);
  assert.deepEqual(events.completed.map((c) => c.jobId), [JOB_ID]);
  assert.deepEqual(events.deleted, ["rh-1"]);
});

Deno.test("a completion that fails is given up once a heartbeat finds the lease lost, and its message left", async () => {
  const events = newEvents();
  const lost = new Set<string>();
  const jobs = fakeJobs(events, { lost });
  const logs: string[] = [];
  let tries = 0;
  await runUntil({
    jobs: {
      ...jobs,
      complete: () => {
        if (++tries === 2) lost.add(JOB_ID);
        return Promise.reject(new Error("connection terminated"));
      },
    },
    queue: fakeQueue([message()], events),
    handler: () => Promise.resolve("done"),
    heartbeatMs: 5,
    logs,
  }, () => logs.some((l) => l.includes("outcome not recorded")));
  assert.deepEqual(events.completed, []);
  // Whatever was committed, the message comes back and the next claim tells what to do.
  assert.deepEqual(events.deleted, [], "the message is left, not deleted");
});

Deno.test("a heartbeat the database cannot take still keeps every held message hidden", async () => {
  const events = newEvents();
  const jobs = fakeJobs(events);
  let beats = 0;
  await runUntil({
    jobs: {
      ...jobs,
      heartbeat: (w, b) => {
        if (b.length === 0) return jobs.heartbeat(w, b);
        beats++;
        return Promise.reject(new Error("connection refused"));
      },
    },
    queue: fakeQueue([message(1), message(2)], events),
    handler: (_job, { signal }) => abortableSleep(10_000, signal),
    heartbeatMs: 10,
    graceMs: 10,
  }, () => beats >= 2 && events.visibility.filter(([, s]) => s === 60).length >= 4);
  for (const rh of ["rh-1", "rh-2"]) {
    assert.ok(events.visibility.some(([h, s]) => h === rh && s === 60), `${rh} kept hidden`);
  }
});

Deno.test("a job claimed again while its earlier attempt still runs here: the earlier attempt stops", async () => {
  const events = newEvents();
  const stopped: string[] = [];
  let claims = 0;
  const queue = fakeQueue([], events);
  // The job's message, then (recovered and sent again) a second message for the same job.
  const deliveries = [message(1), { ...message(1), receiptHandle: "rh-1-again" }];
  let receives = 0;
  await runUntil({
    jobs: fakeJobs(events, {
      claimOf: (id) => ({ outcome: "claimed", ...job(1), job_id: id, lease: `lease-${++claims}` }),
    }),
    queue: {
      ...queue,
      async receive(_lane, max) {
        events.asked.push(max);
        receives++;
        if (receives === 1 || receives === 5) return [deliveries.shift()!];
        await new Promise((r) => setTimeout(r, 5));
        return [];
      },
    },
    handler: async (j, { signal }) => {
      try {
        await abortableSleep(j.lease === "lease-1" ? 10_000 : 20, signal);
      } catch (error) {
        stopped.push(j.lease);
        throw error;
      }
    },
    heartbeatMs: 1_000,
  }, () => events.completed.length > 0);
  assert.deepEqual(stopped, ["lease-1"], "the first attempt was stopped");
  assert.deepEqual(events.completed.map((c) => c.lease), ["lease-2"], "the second one completed");
  assert.deepEqual(
    events.calls.filter((c) => c.startsWith("fail") || c === "release"),
    [],
    "the stopped attempt records nothing (it was not merely stopped by the shutdown)",
  );
});

Deno.test("jobs claimed as the shutdown begins are released, never started", async () => {
  const events = newEvents();
  let started = 0;
  let claiming = false;
  let release: () => void = () => {};
  const claimAnswered = new Promise<void>((r) => (release = r));
  const jobs = fakeJobs(events);
  const worker = createWorker({
    workerId: "w1",
    jobs: {
      ...jobs,
      claim: async (ids, w) => {
        claiming = true;
        await claimAnswered; // the claim is under way when the shutdown begins
        return jobs.claim(ids, w);
      },
    },
    queue: fakeQueue([message(1), message(2)], events),
    handler: () => {
      started++;
      return Promise.resolve();
    },
    concurrency: 10,
    jobTimeoutMs: 60_000,
    heartbeatMs: 1_000,
    visibilitySeconds: 60,
    waitSeconds: 0,
    shutdownGraceMs: 200,
    log: () => {},
  });
  const running = worker.run();
  while (!claiming) await new Promise((r) => setTimeout(r, 2));
  const stopping = worker.shutdown();
  release();
  await stopping;
  await running;
  assert.equal(started, 0, "no handler ran");
  assert.deepEqual(events.calls.filter(notBeat), ["claim:2", "release", "release"]);
  assert.deepEqual(events.visibility.map(([h, s]) => `${h}:${s}`).sort(), ["rh-1:0", "rh-2:0"]);
});

Deno.test("a job past its timeout is aborted and fails as retryable, even if its handler ignores the signal", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([message()], events),
    handler: () => new Promise(() => {}), // hangs, deaf to the signal
    timeoutMs: 30,
    concurrency: 1,
  }, () => events.calls.some((c) => c.startsWith("fail")));
  assert.deepEqual(events.calls.filter(notBeat), ["claim:1", "fail:true:Timed out after 30 ms"]);
  assert.deepEqual(events.visibility.at(-1), ["rh-1", 30], "hidden until the retry");
});

Deno.test("a job's timeout may depend on the job", async () => {
  const events = newEvents();
  const seen: string[] = [];
  const worker = createWorker({
    workerId: "w1",
    jobs: fakeJobs(events),
    queue: fakeQueue([message(1), message(2)], events),
    handler: (_job, { signal }) => abortableSleep(100, signal),
    concurrency: 10,
    jobTimeoutMs: (j) => {
      seen.push(j.job_id);
      return j.job_id === jobId(2) ? 20 : 60_000;
    },
    heartbeatMs: 10,
    visibilitySeconds: 60,
    waitSeconds: 0,
    shutdownGraceMs: 1_000,
    log: () => {},
  });
  const running = worker.run();
  while (events.deleted.length + events.calls.filter((c) => c.startsWith("fail")).length < 2) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await worker.shutdown();
  await running;
  assert.deepEqual(seen.sort(), [jobId(1), jobId(2)]);
  assert.deepEqual(events.completed.map((c) => c.jobId), [jobId(1)]);
  assert.ok(events.calls.includes("fail:true:Timed out after 20 ms"));
});

Deno.test("progress travels with the next heartbeat, once", async () => {
  const events = newEvents();
  let reported = false;
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([message()], events),
    handler: async (_job, { signal, progress }) => {
      progress(2, 5, "yelp");
      reported = true;
      await abortableSleep(10_000, signal);
    },
    heartbeatMs: 10,
  }, () => reported && events.beats.filter((b) => b.length === 1).length >= 3);
  const withJob = events.beats.filter((b) => b.length === 1).map((b) => b[0]!);
  const sent = withJob.filter((b) => b.progress);
  assert.equal(sent.length, 1, "sent once");
  assert.deepEqual(
    { ...sent[0]!.progress, at: undefined },
    { done: 2, total: 5, note: "yelp", attempt: 1, at: undefined },
  );
  assert.ok(!Number.isNaN(Date.parse(sent[0]!.progress!.at)));
});

Deno.test("progress refuses negative or non-finite numbers", async () => {
  const events = newEvents();
  const errors: string[] = [];
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([message()], events),
    handler: (_job, { progress }) => {
      for (const [d, t] of [[-1, 5], [1, Infinity], [NaN, 1]]) {
        try {
          progress(d!, t!);
        } catch (error) {
          errors.push((error as Error).name);
        }
      }
      return Promise.resolve();
    },
  }, () => events.deleted.length > 0);
  assert.deepEqual(errors, ["RangeError", "RangeError", "RangeError"]);
});

Deno.test("on shutdown jobs that finish within the grace period are completed", async () => {
  const events = newEvents();
  let started = 0;
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([message(1), message(2)], events),
    handler: async (_job, { signal }) => {
      started++;
      await abortableSleep(50, signal);
    },
    graceMs: 2_000,
  }, () => started === 2);
  assert.deepEqual(events.completed.map((c) => c.jobId).sort(), [jobId(1), jobId(2)]);
  assert.deepEqual(events.deleted.sort(), ["rh-1", "rh-2"]);
});

Deno.test("on shutdown every job still running after the grace period is released", async () => {
  const events = newEvents();
  let started = 0;
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue([message(1), message(2)], events),
    handler: async (_job, { signal }) => {
      started++;
      await abortableSleep(10_000, signal);
    },
    graceMs: 30,
  }, () => started === 2);
  assert.deepEqual(events.calls.filter(notBeat), ["claim:2", "release", "release"]);
  assert.deepEqual(
    events.visibility.filter(([, s]) => s === 0).map(([h]) => h).sort(),
    ["rh-1", "rh-2"],
    "visible again at once",
  );
  assert.deepEqual(events.deleted, []);
});

Deno.test("a job holds its slot until its outcome is recorded", async () => {
  const events = newEvents();
  let handled = 0;
  let reachedAt: number | undefined;
  const jobs = fakeJobs(events);
  await runUntil({
    // The database takes its time to record completions: they never answer here.
    jobs: { ...jobs, complete: () => new Promise(() => {}) },
    queue: fakeQueue(Array.from({ length: 10 }, (_, i) => message(i + 1)), events),
    handler: () => {
      handled++;
      return Promise.resolve();
    },
    concurrency: 2,
    graceMs: 20,
  }, () => {
    reachedAt ??= handled === 2 ? Date.now() : undefined;
    return reachedAt !== undefined && Date.now() - reachedAt > 100; // and nothing more after
  });
  assert.equal(handled, 2, "no more jobs than slots while outcomes wait on the database");
  assert.deepEqual(events.asked, [2], "no receive while every slot is taken");
});

/**
 * A worker with three lanes and `share`, over these messages, with handlers that hold their
 * slots: the jobs (by number) it started once its 10 slots are full.
 */
async function fillFromLanes(
  counts: Partial<Record<Lane, number>>,
  share: number,
): Promise<{ lane: Lane; n: number }[]> {
  const events = newEvents();
  const first: Record<Lane, number> = { high: 200, default: 300, low: 100 };
  const messages = (Object.entries(counts) as [Lane, number][]).flatMap(([lane, count]) =>
    Array.from({ length: count }, (_, i): QueueMessage => ({ ...message(first[lane] + i), lane }))
  );
  const started: { lane: Lane; n: number }[] = [];
  const release: (() => void)[] = [];
  await runUntil({
    jobs: fakeJobs(events),
    queue: fakeQueue(messages, events),
    handler: (j) => {
      const n = Number(j.job_id.slice(-12));
      started.push({ n, lane: n >= 300 ? "default" : n >= 200 ? "high" : "low" });
      return new Promise((resolve) => release.push(() => resolve(null)));
    },
    lanes: ["high", "default", "low"],
    laneShare: share,
  }, () => started.length === 10);
  release.forEach((r) => r());
  return started;
}

Deno.test("lanes: slots go to the high lane first, and the low lane keeps its share", async () => {
  const started = await fillFromLanes({ low: 20, high: 20 }, 0.2);
  assert.equal(started.filter((s) => s.lane === "low").length, 2, "2 of 10 kept for the low lane");
  assert.equal(started.filter((s) => s.lane === "high").length, 8, "the rest to the high lane");
});

Deno.test("lanes: a strict priority (share 0) gives every slot to the high lane while it has work", async () => {
  const started = await fillFromLanes({ low: 5, high: 20 }, 0);
  assert.ok(started.every((s) => s.lane === "high"), JSON.stringify(started));
});

Deno.test("lanes: with long polls and one slot, jobs in a lane other than the default one are taken", async () => {
  const events = newEvents();
  const done: string[] = [];
  await runUntil({
    jobs: fakeJobs(events),
    // The fake answers a receive at once; a wait longer than a moment would show as a timeout.
    queue: fakeQueue([1, 2, 3].map((n): QueueMessage => ({ ...message(n), lane: "high" })), events),
    handler: (j) => {
      done.push(j.job_id);
      return Promise.resolve(null);
    },
    lanes: ["high", "default", "low"],
    concurrency: 1,
    waitSeconds: 20,
  }, () => events.completed.length === 3);
  assert.equal(done.length, 3);
});

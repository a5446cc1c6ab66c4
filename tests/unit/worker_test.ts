import assert from "node:assert/strict";
import type {
  Claim,
  ClaimedJob,
  Failure,
  JobHandler,
  JobStore,
  MessageQueue,
  QueueMessage,
} from "../../worker/contract.ts";
import { PermanentJobError } from "../../worker/contract.ts";
import { abortableSleep } from "../../worker/handlers.ts";
import { createWorker } from "../../worker/worker.ts";

const JOB_ID = "4f1d2c3b-5a69-4e7f-8a9b-0c1d2e3f4a5b";

const JOB: ClaimedJob = {
  job_id: JOB_ID,
  attempt: 1,
  lease: "lease-1",
  customer_id: "acme",
  package_size: 3,
  priority_level: 0,
  payload: {},
};

interface Events {
  deleted: string[];
  visibility: [string, number][];
  calls: string[];
}

function fakeQueue(messages: QueueMessage[], events: Events): MessageQueue {
  return {
    async receive() {
      const next = messages.shift();
      if (next) return [next];
      await new Promise((r) => setTimeout(r, 5));
      return [];
    },
    delete(m) {
      events.deleted.push(m.receiptHandle);
      return Promise.resolve();
    },
    setVisibility(m, seconds) {
      events.visibility.push([m.receiptHandle, seconds]);
      return Promise.resolve();
    },
  };
}

function fakeJobs(claim: Claim, events: Events, overrides: Partial<JobStore> = {}): JobStore {
  return {
    claim: () => {
      events.calls.push("claim");
      return Promise.resolve(claim);
    },
    heartbeat: (_w, jobId) => {
      if (jobId) events.calls.push("heartbeat");
      return Promise.resolve(true);
    },
    complete: () => {
      events.calls.push("complete");
      return Promise.resolve(true);
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

const message = (body = JSON.stringify({ job_id: JOB_ID })): QueueMessage => ({
  body,
  receiptHandle: "rh-1",
  receiveCount: 1,
});

/** Runs a worker until `until()` holds, then shuts it down. */
async function runUntil(
  options: { jobs: JobStore; queue: MessageQueue; handler: JobHandler; graceMs?: number },
  until: () => boolean,
): Promise<void> {
  const worker = createWorker({
    workerId: "w1",
    jobs: options.jobs,
    queue: options.queue,
    handler: options.handler,
    heartbeatMs: 10,
    visibilitySeconds: 60,
    waitSeconds: 0,
    shutdownGraceMs: options.graceMs ?? 1_000,
    log: () => {},
  });
  const running = worker.run();
  const deadline = Date.now() + 3_000;
  while (!until() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await worker.shutdown();
  await running;
}

const newEvents = (): Events => ({ deleted: [], visibility: [], calls: [] });

Deno.test("worker completes a claimed job, then deletes its message", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs({ outcome: "claimed", ...JOB }, events),
    queue: fakeQueue([message()], events),
    handler: () => Promise.resolve({ ok: true }),
  }, () => events.deleted.length > 0);
  assert.deepEqual(events.calls, ["claim", "complete"]);
  assert.deepEqual(events.deleted, ["rh-1"]);
});

Deno.test("worker heartbeats while the handler runs and extends the message's visibility", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs({ outcome: "claimed", ...JOB }, events),
    queue: fakeQueue([message()], events),
    handler: (_job, signal) => abortableSleep(60, signal),
  }, () => events.deleted.length > 0);
  assert.ok(events.calls.filter((c) => c === "heartbeat").length >= 2, events.calls.join());
  assert.ok(events.visibility.every(([, s]) => s === 60));
});

Deno.test("worker stops the handler as soon as a heartbeat says the lease is lost", async () => {
  const events = newEvents();
  let stoppedBy: unknown;
  await runUntil({
    jobs: fakeJobs({ outcome: "claimed", ...JOB }, events, {
      heartbeat: () => Promise.resolve(false),
    }),
    queue: fakeQueue([message()], events),
    handler: async (_job, signal) => {
      try {
        await abortableSleep(5_000, signal);
      } catch (error) {
        stoppedBy = error;
        throw error;
      }
    },
  }, () => events.deleted.length > 0);
  assert.equal((stoppedBy as Error)?.name, "LeaseLost");
  assert.ok(!events.calls.includes("complete"), "a job whose lease was lost is not completed");
  assert.ok(!events.calls.some((c) => c.startsWith("fail")), "nor failed");
  assert.deepEqual(events.deleted, ["rh-1"]);
});

Deno.test("worker acknowledges duplicate deliveries of finished, unknown or held jobs", async () => {
  for (const outcome of ["finished", "unknown_job", "leased"] as const) {
    const events = newEvents();
    let ran = false;
    await runUntil({
      jobs: fakeJobs({ outcome, job_id: JOB_ID }, events),
      queue: fakeQueue([message()], events),
      handler: () => {
        ran = true;
        return Promise.resolve();
      },
    }, () => events.deleted.length > 0);
    assert.deepEqual(events.deleted, ["rh-1"], outcome);
    assert.equal(ran, false, outcome);
  }
});

Deno.test("worker hides a message that came before its retry was due", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs({ outcome: "not_due", job_id: JOB_ID, retry_in_seconds: 42 }, events),
    queue: fakeQueue([message()], events),
    handler: () => Promise.resolve(),
  }, () => events.visibility.length > 0);
  assert.deepEqual(events.visibility, [["rh-1", 42]]);
  assert.deepEqual(events.deleted, []);
});

Deno.test("a retryable failure keeps the message, hidden until the retry", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs({ outcome: "claimed", ...JOB }, events),
    queue: fakeQueue([message()], events),
    handler: () => Promise.reject(new Error("directory timed out")),
  }, () => events.visibility.length > 0);
  assert.deepEqual(events.calls, ["claim", "fail:true:directory timed out"]);
  assert.deepEqual(events.visibility, [["rh-1", 30]]);
  assert.deepEqual(events.deleted, []);
});

Deno.test("a permanent failure is reported as not retryable and the message deleted", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs({ outcome: "claimed", ...JOB }, events, {
      fail: (_j, _l, error, retryable) => {
        events.calls.push(`fail:${retryable}:${error}`);
        return Promise.resolve({ outcome: "failed", attempt: 1 });
      },
    }),
    queue: fakeQueue([message()], events),
    handler: () => Promise.reject(new PermanentJobError("customer data is invalid")),
  }, () => events.deleted.length > 0);
  assert.deepEqual(events.calls, ["claim", "fail:false:customer data is invalid"]);
});

Deno.test("a message that names no job is left for SQS to dead-letter", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs({ outcome: "claimed", ...JOB }, events),
    // Not JSON, and a job id that is not a UUID: neither names a job.
    queue: fakeQueue([message("garbage"), message('{"job_id":"job-1"}')], events),
    handler: () => Promise.resolve(),
  }, () => false);
  assert.deepEqual(events.calls, []);
  assert.deepEqual(events.deleted, []);
  assert.deepEqual(events.visibility, []);
});

Deno.test("worker claims the job id the message names, lower-cased", async () => {
  const events = newEvents();
  const claimed: string[] = [];
  await runUntil({
    jobs: fakeJobs({ outcome: "finished", job_id: JOB_ID }, events, {
      claim: (jobId) => {
        claimed.push(jobId);
        return Promise.resolve({ outcome: "finished", job_id: jobId });
      },
    }),
    queue: fakeQueue([message(JSON.stringify({ job_id: JOB_ID.toUpperCase() }))], events),
    handler: () => Promise.resolve(),
  }, () => events.deleted.length > 0);
  assert.deepEqual(claimed, [JOB_ID]);
});

Deno.test("a claim that fails (database down) leaves the message for redelivery", async () => {
  const events = newEvents();
  await runUntil({
    jobs: fakeJobs({ outcome: "claimed", ...JOB }, events, {
      claim: () => {
        events.calls.push("claim");
        return Promise.reject(new Error("connection refused"));
      },
    }),
    queue: fakeQueue([message()], events),
    handler: () => Promise.resolve(),
  }, () => events.calls.length > 0);
  assert.deepEqual(events.deleted, []);
  assert.deepEqual(events.visibility, []);
});

Deno.test("on shutdown a job that finishes within the grace period is completed", async () => {
  const events = newEvents();
  let started = false;
  await runUntil({
    jobs: fakeJobs({ outcome: "claimed", ...JOB }, events),
    queue: fakeQueue([message()], events),
    handler: async (_job, signal) => {
      started = true;
      await abortableSleep(50, signal);
    },
    graceMs: 2_000,
  }, () => started);
  assert.deepEqual(events.calls.filter((c) => c !== "heartbeat"), ["claim", "complete"]);
  assert.deepEqual(events.deleted, ["rh-1"]);
});

Deno.test("on shutdown a job still running after the grace period is released", async () => {
  const events = newEvents();
  let started = false;
  await runUntil({
    jobs: fakeJobs({ outcome: "claimed", ...JOB }, events),
    queue: fakeQueue([message()], events),
    handler: async (_job, signal) => {
      started = true;
      await abortableSleep(10_000, signal);
    },
    graceMs: 30,
  }, () => started);
  assert.deepEqual(events.calls.filter((c) => c !== "heartbeat"), ["claim", "release"]);
  assert.deepEqual(events.visibility.at(-1), ["rh-1", 0], "visible again at once");
  assert.deepEqual(events.deleted, []);
});

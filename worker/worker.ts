/**
 * The worker loop: up to `concurrency` jobs at once per process. It receives at most
 * min(10, free slots) messages, from the highest priority lane with work (each lower lane keeping
 * its share of the slots; see lanes.ts), claims the jobs they name in one call, runs each handler, and
 * completes or fails each under its lease. A job holds its slot until its outcome is recorded. Postgres decides; a message is only a reminder:
 * - a duplicate of a finished, unknown or otherwise-held job is acknowledged (deleted);
 * - a retry keeps the message, hidden until the retry is due (SQS counts the receive, so a job
 *   that keeps failing ends up in jobs-dlq after maxReceiveCount);
 * - a lost lease (the job was recovered) stops that handler at once and the worker lets go.
 * One heartbeat round trip covers every lease the process holds (with ChangeMessageVisibilityBatch
 * in step) and carries the handlers' progress. A job past its timeout is aborted and fails as
 * retryable. Completions and deletes are gathered into batches without delaying any of them.
 *
 * Faults: a claim the database cannot take keeps its messages in hand (hidden) and is tried again
 * until it can, so the loop stops receiving and no message spends receives on the outage; a
 * completion or failure that cannot be recorded is tried again while the lease holds.
 * On shutdown every running job gets `shutdownGraceMs` to finish, then is released; a long poll
 * under way is let finish (at most `waitSeconds`) and whatever it received is handed back.
 */
import { parseJobMessage } from "../supabase/functions/_shared/job_message.ts";
import type {
  Claim,
  ClaimedJob,
  Completion,
  JobHandler,
  JobStore,
  MessageQueue,
  Progress,
  QueueMessage,
} from "./contract.ts";
import { PermanentJobError } from "./contract.ts";
import { gathered } from "./gather.ts";
import {
  IDLE_RECHECK_MS,
  keptPerLowerLane,
  type LaneView,
  type NextReceive,
  nextReceive,
  RECHECK_MS,
} from "./lanes.ts";
import type { Lane } from "../supabase/functions/_shared/lanes.ts";

export interface WorkerDeps {
  workerId: string;
  jobs: JobStore;
  queue: MessageQueue;
  handler: JobHandler;
  /** Jobs in flight at once. */
  concurrency: number;
  /** A job's time limit in ms: one for all, or per job. */
  jobTimeoutMs: number | ((job: ClaimedJob) => number);
  heartbeatMs: number;
  visibilitySeconds: number;
  waitSeconds: number;
  shutdownGraceMs: number;
  /** The lanes to receive from, highest first (default: only the default lane). */
  lanes?: readonly Lane[];
  /** Share of the slots each lower lane keeps while it has work (see worker/lanes.ts). */
  laneShare?: number;
  log(line: string): void;
  /** How long to wait before trying a database call again after it failed (default 1-5 s). */
  retryDelayMs?(failures: number): number;
}

export interface Worker {
  /** Runs until shutdown() has been called and every job is settled. */
  run(): Promise<void>;
  shutdown(): Promise<void>;
}

export class LeaseLost extends Error {
  override name = "LeaseLost";
}
export class ShuttingDown extends Error {
  override name = "ShuttingDown";
}
export class JobTimedOut extends Error {
  override name = "JobTimedOut";
}

/** SQS hides a message for at most 12 hours; a receive takes at most 10. */
const MAX_VISIBILITY = 43_200;
const MAX_RECEIVE = 10;
const MAX_NOTE = 200;
/** The longest wait for settling jobs' slots before receiving for fewer than 10. */
const SETTLING_WAIT_MS = 10;
/** The longest wait on the default lane while other lanes may get work (it holds a slot). */
const WATCH_WAIT_SECONDS = 2;

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

const defaultRetryDelay = (failures: number) => Math.min(5_000, 1_000 * 2 ** (failures - 1));

interface Running {
  job: ClaimedJob;
  message: QueueMessage;
  abort: AbortController;
  /** Set by a heartbeat that found the lease gone: stop trying to record anything. */
  leaseLost: boolean;
  /** Progress not yet sent with a heartbeat. */
  unsent?: Progress;
  /** The handler is done; its outcome is being recorded (the slot frees in a moment). */
  settling: boolean;
}

export function createWorker(deps: WorkerDeps): Worker {
  const { jobs, queue, log, workerId } = deps;
  const retryDelay = deps.retryDelayMs ?? defaultRetryDelay;
  const stopping = new AbortController();
  const running = new Map<string, Running>();
  const settled = new Set<Promise<void>>();
  let slotFreed: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  const lanes = deps.lanes ?? ["default"];
  const kept = keptPerLowerLane(deps.concurrency, deps.laneShare ?? 0, lanes.length);
  /** When each lane's last receive came back empty (0: it did not). */
  const emptyAt = new Map<Lane, number>(lanes.map((lane) => [lane, 0]));
  /** Lanes whose last receive brought messages. */
  const busyLanes = new Set<Lane>();
  /**
   * With several lanes, while no lane has work, one long poll of one message waits on the default
   * lane (one slot set aside for it): a job there is taken the moment it arrives.
   */
  const watched: Lane | undefined = lanes.length > 1
    ? (lanes.includes("default") ? "default" : lanes[0])
    : undefined;
  let watch: Promise<void> | undefined;
  const recheckMs = () => running.size > 0 ? RECHECK_MS : IDLE_RECHECK_MS;
  function laneViews(): LaneView[] {
    const held = new Map<Lane, number>();
    for (const r of running.values()) {
      held.set(r.message.lane, (held.get(r.message.lane) ?? 0) + 1);
    }
    const now = Date.now();
    return lanes.map((lane) => ({
      lane,
      running: held.get(lane) ?? 0,
      quiet: (lane === watched && watch !== undefined) ||
        now - emptyAt.get(lane)! < recheckMs(),
      busy: busyLanes.has(lane),
    }));
  }
  /** Until the first quiet lane is due to be looked at again. */
  function untilRecheck(): number {
    const now = Date.now();
    const due = lanes.filter((l) => l !== watched || !watch)
      .map((l) => emptyAt.get(l)! + recheckMs() - now);
    return Math.max(1, Math.min(...due));
  }

  const complete = gathered(
    (items: Completion[]) => jobs.complete(items),
    { maxBatch: 50, maxInFlight: 2 },
  );
  const sendAgain = gathered(
    async (copies: { message: QueueMessage; delaySeconds: number }[]) => {
      await queue.sendAgain(copies);
      return copies.map(() => undefined);
    },
    { maxBatch: MAX_RECEIVE, maxInFlight: 2 },
  );
  const deleteMessage = gathered(
    async (messages: QueueMessage[]) => {
      await queue.delete(messages);
      return messages.map(() => undefined);
    },
    { maxBatch: MAX_RECEIVE, maxInFlight: 2 },
  );

  const quietly = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      log(`${what} failed: ${describe(error)}`);
    }
  };
  /** Work that must finish before the worker stops, but that nothing waits for. */
  const track = (work: Promise<void>) => {
    settled.add(work);
    void work.finally(() => settled.delete(work));
  };
  /**
   * What is left to do on SQS once the outcome is in the database: in the background, so the
   * job's slot is free at once (the message's fate no longer matters to anyone).
   */
  const afterwards = (what: string, action: () => Promise<unknown>) => track(quietly(what, action));
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  // --- Heartbeat: one round trip for every lease held (and for none: the worker is alive).
  let beating = false;
  async function beat(): Promise<void> {
    if (beating) return;
    beating = true;
    const held = [...running.values()].filter((r) => !r.leaseLost);
    const sent = held.map((r) => r.unsent);
    held.forEach((r) => (r.unsent = undefined));
    try {
      const holds = await jobs.heartbeat(
        workerId,
        held.map((r, i) => ({ jobId: r.job.job_id, lease: r.job.lease, progress: sent[i] })),
      );
      held.forEach((r, i) => {
        if (holds[i]) return;
        r.leaseLost = true;
        r.abort.abort(new LeaseLost(`lease on ${r.job.job_id} was lost`));
      });
      keepHidden(held.filter((_, i) => holds[i]));
    } catch (error) {
      // Keep working, and keep the messages hidden: the leases may well still hold (the database
      // may be out of reach for a while). If not, a later beat says so.
      held.forEach((r, i) => (r.unsent ??= sent[i]));
      log(`heartbeat failed: ${describe(error)}`);
      keepHidden(held);
    } finally {
      beating = false;
    }
  }

  /** Extends the messages' visibility, in the background: a slow SQS never holds up a beat. */
  function keepHidden(held: Running[]): void {
    if (held.length === 0) return;
    afterwards(
      "extending visibility",
      () => queue.setVisibility(held.map((r) => r.message), deps.visibilitySeconds),
    );
  }

  // --- Recording an outcome: tried again while the lease holds (and until the grace is over).
  async function persist<T>(
    r: Running,
    what: string,
    action: () => Promise<T>,
  ): Promise<T | undefined> {
    for (let failures = 1;; failures++) {
      try {
        return await action();
      } catch (error) {
        if (r.leaseLost || shutdownOver) {
          log(`job ${r.job.job_id}: ${what} failed, given up: ${describe(error)}`);
          return undefined;
        }
        log(`job ${r.job.job_id}: ${what} failed, trying again: ${describe(error)}`);
        await sleep(retryDelay(failures));
      }
    }
  }

  /**
   * After an outcome could not be recorded (the lease went meanwhile, or the shutdown's time is
   * over): the message is left to come back after its visibility timeout, and the next claim
   * tells what to do. Deleting it could lose the job: a failure whose answer was lost may have
   * been recorded, leaving the job pending for a retry that only this message would bring.
   */
  function leaveForNextClaim(r: Running): void {
    log(`job ${r.job.job_id}: outcome not recorded; its message comes back for the next claim`);
  }

  async function settle(
    r: Running,
    outcome: { ok: true; result: unknown } | { ok: false; error: unknown },
  ) {
    const { job, message } = r;
    const reason = r.abort.signal.reason;
    if (reason instanceof LeaseLost || r.leaseLost) {
      log(`job ${job.job_id}: lease lost, stopped and let go`);
      afterwards("delete", () => deleteMessage(message));
      return;
    }
    if (reason instanceof ShuttingDown) {
      const released = await persist(
        r,
        "release",
        () => jobs.release(job.job_id, job.lease, "worker shutting down"),
      );
      log(`job ${job.job_id}: ${released ? "released" : "not released (lease gone)"} on shutdown`);
      // Visible again at once, so another worker picks it up.
      afterwards("release message", () => queue.setVisibility([message], 0));
      return;
    }
    if (outcome.ok && !(reason instanceof JobTimedOut)) {
      const done = await persist(
        r,
        "completion",
        () => complete({ jobId: job.job_id, lease: job.lease, result: outcome.result ?? null }),
      );
      if (done === undefined) return leaveForNextClaim(r);
      log(`job ${job.job_id}: ${done ? "completed" : "lease lost before completion"}`);
      afterwards("delete", () => deleteMessage(message));
      return;
    }
    const error = reason instanceof JobTimedOut ? reason : (outcome as { error: unknown }).error;
    const retryable = !(error instanceof PermanentJobError);
    const text = error instanceof Error ? error.message : String(error);
    const failure = await persist(
      r,
      "failure",
      () => jobs.fail(job.job_id, job.lease, text, retryable),
    );
    if (!failure) return leaveForNextClaim(r);
    if (failure.outcome === "retrying") {
      log(
        `job ${job.job_id}: attempt ${failure.attempt} failed (${text}), retry in ${failure.retry_in_seconds}s`,
      );
      afterwards(
        "delay message",
        () => queue.setVisibility([message], Math.min(MAX_VISIBILITY, failure.retry_in_seconds)),
      );
    } else {
      log(`job ${job.job_id}: ${failure.outcome === "failed" ? "failed for good" : "lease lost"}`);
      afterwards("delete", () => deleteMessage(message));
    }
  }

  // --- Running one job in a slot.
  function launch(job: ClaimedJob, message: QueueMessage): void {
    const r: Running = {
      job,
      message,
      abort: new AbortController(),
      leaseLost: false,
      settling: false,
    };
    // Claimed again while an earlier attempt here still runs (its lease was revoked, the job
    // re-sent): that attempt is over.
    const earlier = running.get(job.job_id);
    if (earlier) {
      earlier.leaseLost = true;
      earlier.abort.abort(new LeaseLost(`lease on ${job.job_id} was lost (claimed again)`));
    }
    running.set(job.job_id, r);
    log(`job ${job.job_id}: claimed (attempt ${job.attempt})`);
    const limit = typeof deps.jobTimeoutMs === "function"
      ? deps.jobTimeoutMs(job)
      : deps.jobTimeoutMs;
    const timer = setTimeout(
      () =>
        r.abort.abort(
          new JobTimedOut(
            `Timed out after ${limit >= 1000 ? `${Math.round(limit / 1000)} s` : `${limit} ms`}`,
          ),
        ),
      limit,
    );
    const progress = (done: number, total: number, note?: string) => {
      if (![done, total].every((n) => Number.isFinite(n) && n >= 0)) {
        throw new RangeError("progress(done, total): both must be finite and not negative");
      }
      r.unsent = {
        done,
        total,
        ...(note === undefined ? {} : { note: String(note).slice(0, MAX_NOTE) }),
        attempt: job.attempt,
        at: new Date().toISOString(),
      };
    };
    // The handler is raced against its signal: one that ignores an abort frees its slot anyway.
    const aborted = new Promise<never>((_, reject) => {
      r.abort.signal.addEventListener("abort", () => reject(r.abort.signal.reason), { once: true });
    });
    const work = (async () => {
      let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
      try {
        outcome = {
          ok: true,
          result: await Promise.race([
            deps.handler(job, { signal: r.abort.signal, progress }),
            aborted,
          ]),
        };
      } catch (error) {
        outcome = { ok: false, error };
      } finally {
        clearTimeout(timer);
      }
      r.settling = true;
      try {
        await settle(r, outcome);
      } catch (error) {
        log(`job ${job.job_id}: ${describe(error)}; its message is left for redelivery`);
      } finally {
        if (running.get(job.job_id) === r) running.delete(job.job_id);
        slotFreed?.();
      }
    })();
    track(work);
  }

  /** A job claimed as the shutdown began: released at once, never started. */
  function handBack(job: ClaimedJob, message: QueueMessage): void {
    track((async () => {
      await quietly("release", () => jobs.release(job.job_id, job.lease, "worker shutting down"));
      await quietly("release message", () => queue.setVisibility([message], 0));
      log(`job ${job.job_id}: claimed as the worker was shutting down, released`);
    })());
  }

  // --- Claiming what a receive brought.
  async function claim(messages: QueueMessage[]): Promise<void> {
    const named: { message: QueueMessage; jobId: string }[] = [];
    for (const message of messages) {
      const { jobId } = parseJobMessage(message.body);
      // Not a job message (or its job id is no UUID): leave it; after maxReceiveCount SQS moves
      // it to the DLQ for a human.
      if (jobId) named.push({ message, jobId });
      else log(`ignoring a message that names no job (receive ${message.receiveCount})`);
    }
    if (named.length === 0) return;
    let claims: Claim[] | undefined;
    for (let failures = 1; !claims; failures++) {
      try {
        claims = await jobs.claim(named.map((n) => n.jobId), workerId);
      } catch (error) {
        // The database is out of reach: keep the messages hidden and in hand, and stop receiving
        // until the claim goes through, so the outage costs no message a receive.
        const handed = named.map((n) => n.message);
        if (stopping.signal.aborted) {
          log(`claim failed while shutting down, messages handed back: ${describe(error)}`);
          await quietly("return messages", () => queue.setVisibility(handed, 0));
          return;
        }
        log(`claim of ${named.length} job(s) failed, trying again: ${describe(error)}`);
        await quietly(
          "keeping messages hidden",
          () => queue.setVisibility(handed, deps.visibilitySeconds),
        );
        await sleep(retryDelay(failures));
      }
    }
    const duplicates: QueueMessage[] = [];
    claims.forEach((claim, i) => {
      const { message, jobId } = named[i]!;
      if (claim.outcome === "claimed") {
        return stopping.signal.aborted ? handBack(claim, message) : launch(claim, message);
      }
      if (claim.outcome === "capped") {
        log(
          `job ${jobId}: capped (its customer is at its cap), sent again in ${claim.retry_in_seconds}s`,
        );
        // Waiting for room must not spend the message's receives: a delayed copy goes first, then
        // this one is deleted (a crash between leaves a duplicate, which the lease makes harmless).
        // If the copy cannot be sent, this message stays and comes back after its visibility.
        afterwards("send capped job again", async () => {
          await sendAgain({ message, delaySeconds: claim.retry_in_seconds });
          await deleteMessage(message);
        });
        return;
      }
      if (claim.outcome === "not_due") {
        afterwards(
          "delay message",
          () => queue.setVisibility([message], Math.min(MAX_VISIBILITY, claim.retry_in_seconds)),
        );
        return;
      }
      // Finished, unknown, or held by a live lease: this delivery is a duplicate.
      log(`job ${jobId}: ${claim.outcome}, message acknowledged`);
      duplicates.push(message);
    });
    for (const message of duplicates) afterwards("delete", () => deleteMessage(message));
  }

  /** Receives as planned and claims what came, as soon as it came. */
  async function receiveAndClaim(next: NextReceive): Promise<void> {
    let messages: QueueMessage[];
    try {
      // Not aborted on shutdown: a long poll cut off mid-way can still take messages on the
      // server, hiding them for the visibility timeout. We let it finish and hand back what
      // it got.
      messages = await queue.receive(next.lane, next.max, next.waitSeconds, deps.visibilitySeconds);
      emptyAt.set(next.lane, messages.length === 0 ? Date.now() : 0);
      if (messages.length > 0) busyLanes.add(next.lane);
      else busyLanes.delete(next.lane);
    } catch (error) {
      if (stopping.signal.aborted) return;
      log(`receive failed: ${describe(error)}`);
      await sleep(1_000);
      return;
    }
    if (stopping.signal.aborted) {
      if (messages.length > 0) {
        await quietly("return messages", () => queue.setVisibility(messages, 0));
      }
      return;
    }
    await claim(messages);
  }

  async function runLoop(): Promise<void> {
    let waitedForSettling = false;
    const heartbeat = setInterval(() => void beat(), deps.heartbeatMs);
    void beat();
    try {
      while (!stopping.signal.aborted) {
        // A slot is a job, from its claim until its outcome is recorded: the worker never holds
        // more messages than it has slots for. Jobs whose outcome is being recorded free their
        // slots in a moment, often together (completions are batched): wait for them rather than
        // receive a message or two now, but not for longer than SETTLING_WAIT_MS, so a worker whose
        // receives bring few jobs (capped ones take no slot) keeps reading the queue.
        const free = deps.concurrency - running.size - (watch ? 1 : 0);
        const filling = Math.min(MAX_RECEIVE, deps.concurrency);
        const soon = [...running.values()].some((r) => r.settling);
        if (free <= 0 || (free < filling && soon && !waitedForSettling)) {
          const freed = new Promise<void>((resolve) => (slotFreed = resolve));
          if (free <= 0) {
            await freed;
          } else {
            waitedForSettling = true;
            let timer: ReturnType<typeof setTimeout> | undefined;
            await Promise.race([
              freed,
              new Promise((r) => (timer = setTimeout(r, SETTLING_WAIT_MS))),
            ]);
            clearTimeout(timer);
          }
          slotFreed = undefined;
          continue;
        }
        waitedForSettling = false;
        const views = laneViews();
        if (
          watched && deps.waitSeconds > 0 && !watch && free >= 2 &&
          views.every((v) => v.quiet)
        ) {
          // Nothing to receive anywhere: wait on the default lane, one slot set aside for as
          // long as the wait (WATCH_WAIT_SECONDS at most, so the slot is soon back if another
          // lane gets work), while the other lanes are looked at every recheck.
          watch = receiveAndClaim({
            lane: watched,
            max: 1,
            waitSeconds: Math.min(deps.waitSeconds, WATCH_WAIT_SECONDS),
          })
            .finally(() => {
              watch = undefined;
              slotFreed?.();
            });
          continue;
        }
        const next = nextReceive(views, free, kept, deps.waitSeconds);
        if (next) {
          await receiveAndClaim(next);
          continue;
        }
        // Every lane quiet: wait until a slot frees, the watch ends or a lane is due again.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise<void>((resolve) => (slotFreed = resolve)),
          new Promise((r) => (timer = setTimeout(r, untilRecheck()))),
        ]);
        clearTimeout(timer);
        slotFreed = undefined;
      }
      // A long poll still waiting on the default lane: let it end, handing back what it got.
      await watch;
      // Every job settles, unless the database or SQS stops answering for good: then the
      // shutdown stops waiting once its time is over, and those messages come back to others.
      while (settled.size > 0 && !shutdownOver) {
        await Promise.race([Promise.allSettled([...settled]), gaveUp]);
      }
      if (settled.size > 0) log(`${settled.size} job(s) left unsettled at shutdown`);
    } finally {
      clearInterval(heartbeat);
    }
  }

  let shutdownOver = false;
  let giveUp = () => {};
  const gaveUp = new Promise<void>((resolve) => (giveUp = resolve));
  return {
    run() {
      loop ??= runLoop();
      return loop;
    },
    async shutdown() {
      stopping.abort(new ShuttingDown("worker shutting down"));
      slotFreed?.();
      const all = Promise.allSettled([...settled]);
      const grace = new Promise<"timeout">((resolve) => {
        const t = setTimeout(() => resolve("timeout"), deps.shutdownGraceMs);
        void all.finally(() => clearTimeout(t));
      });
      if ((await Promise.race([all.then(() => "done" as const), grace])) === "timeout") {
        for (const r of running.values()) {
          r.abort.abort(new ShuttingDown("worker shutting down"));
        }
      }
      // Released jobs get one more grace period to record it; then nothing is retried.
      const late = setTimeout(() => {
        shutdownOver = true;
        giveUp();
      }, deps.shutdownGraceMs);
      await loop;
      clearTimeout(late);
    },
  };
}

/**
 * Moves dead letters back to the job queue: receive a batch from the DLQ (hidden meanwhile),
 * put each job back in the database (pending, new outbox row; once per DLQ message, recorded in
 * private.redrives), send the new outbox rows, then delete the messages from the DLQ.
 * Interrupted anywhere, a second run finishes the work without sending any job twice: a message
 * already recorded is only deleted, and the outbox sends what the first run could not.
 * Messages that name no known job are left in the DLQ and reported. A message taken off the DLQ
 * takes its row in private.dead_letters with it (in the same call as its job). A redrive holds the
 * DLQ as a check's walk does: while one of them runs the other waits (DlqBusy: 409, try again).
 */
import type { QueueDepth } from "../_shared/sqs.ts";
import { type DeadLetter, type DeadLetterQueue, DlqBusy, holdingDlq, showAgain } from "./dlq.ts";
import type { DeadLetterSummary, MonitorStore, RedriveOutcome } from "./store.ts";

export interface RedriveDeps {
  dlq: DeadLetterQueue;
  store: MonitorStore;
  /** Sends these outbox rows now; on failure they wait for the next scheduled dispatch. */
  dispatch(outboxIds: number[]): Promise<void>;
  /** How long received messages stay hidden: a run interrupted mid-batch frees them after it. */
  visibilitySeconds: number;
  budgetMs: number;
  now(): number;
}

export interface RedriveOptions {
  limit: number;
  dryRun: boolean;
}

export interface RedriveResult {
  dryRun: boolean;
  /** Messages taken off the DLQ, by what was done with their job. */
  moved: Record<Exclude<RedriveOutcome, "unknown_job">, number>;
  /** Messages left in the DLQ: not a job message, or a job the database does not know. */
  skipped: number;
  /** Dry run: the jobs of up to 10 messages that would move. */
  sample?: { messageId: string; jobId?: string; receiveCount: number }[];
  /**
   * Dry run: the dead letters the monitor recorded, per action taken on their job. A redrive puts
   * back every job that is neither completed nor held by a live worker (the "settled" ones, and
   * any other failed or pending job); for the rest it only deletes the message.
   */
  recorded?: { total: number; byAction: DeadLetterSummary["byAction"] };
  remaining: QueueDepth;
}

const noneMoved = (): RedriveResult["moved"] => ({
  requeued: 0,
  finished: 0,
  running: 0,
  already_redriven: 0,
});

export async function redriveDeadLetters(
  deps: RedriveDeps,
  options: RedriveOptions,
): Promise<RedriveResult> {
  if (options.dryRun) {
    const peeked = await deps.dlq.peek(Math.min(10, options.limit));
    const recorded = await deps.store.summary();
    return {
      dryRun: true,
      moved: noneMoved(),
      skipped: 0,
      sample: peeked.map((m) => ({
        messageId: m.messageId,
        jobId: m.jobId,
        receiveCount: m.receiveCount,
      })),
      recorded: { total: recorded.recorded, byAction: recorded.byAction },
      remaining: await deps.dlq.depth(),
    };
  }
  const result = await holdingDlq(deps.store, deps.budgetMs, () => moveDeadLetters(deps, options));
  if (!result) throw new DlqBusy("another check or redrive holds the DLQ");
  return result;
}

async function moveDeadLetters(
  deps: RedriveDeps,
  options: RedriveOptions,
): Promise<RedriveResult> {
  const moved = noneMoved();
  // Left in the DLQ; shown again at the end (not before: the next receive would bring them back).
  const skipped: DeadLetter[] = [];
  try {
    await moveBatches(deps, options, moved, skipped);
  } finally {
    await showAgain(deps.dlq, skipped);
  }
  return { dryRun: false, moved, skipped: skipped.length, remaining: await deps.dlq.depth() };
}

/** Batch after batch until the limit or the budget; counts into `moved` and `skipped`. */
async function moveBatches(
  deps: RedriveDeps,
  options: RedriveOptions,
  moved: RedriveResult["moved"],
  skipped: DeadLetter[],
): Promise<void> {
  const deadline = deps.now() + deps.budgetMs;
  let handled = 0;
  while (handled + skipped.length < options.limit && deps.now() < deadline) {
    // A long poll: a short one may find nothing while messages remain (see walk.ts).
    const batch = await deps.dlq.receive(
      Math.min(10, options.limit - handled - skipped.length),
      deps.visibilitySeconds,
      1,
    );
    if (batch.length === 0) break;
    const done: DeadLetter[] = [];
    const outboxIds: number[] = [];
    for (const message of batch) {
      if (!message.jobId) {
        skipped.push(message);
        continue;
      }
      const { outcome, outboxId } = await deps.store.redrive(message.messageId, message.jobId);
      if (outcome === "unknown_job") {
        skipped.push(message);
        continue;
      }
      moved[outcome]++;
      if (outboxId !== null) outboxIds.push(outboxId);
      done.push(message);
    }
    if (outboxIds.length > 0) await deps.dispatch(outboxIds);
    for (const message of done) await deps.dlq.delete(message);
    handled += done.length;
  }
}

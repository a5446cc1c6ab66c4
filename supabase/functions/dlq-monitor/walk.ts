/**
 * One walk of the dead-letter queue: every message read, recorded in private.dead_letters and its
 * job settled, within a time budget. A receive hides what it returns for `hideSeconds`, so the
 * next receive moves past the messages already read; the walk ends when a long poll finds nothing
 * visible (the whole queue was read) or when the budget is spent.
 * - Whole queue read (or the walk failed): every message read is made visible again at once, so
 *   the DLQ looks as before to CloudWatch alarms and to a redrive.
 * - Out of budget: what was read stays hidden for hideSeconds, past the next scheduled run's walk,
 *   so that run goes on with the messages this one did not reach.
 * Batches are recorded while the walk reads on, so what a run did is committed as it goes.
 */
import { type DeadLetter, type DeadLetterQueue, showAgain } from "./dlq.ts";
import type { DeadLetterAction, MonitorStore } from "./store.ts";

export interface WalkDeps {
  dlq: DeadLetterQueue;
  store: Pick<MonitorStore, "recordDeadLetters">;
  budgetMs: number;
  hideSeconds: number;
  now(): number;
}

export interface WalkResult {
  /** Distinct messages read. */
  read: number;
  /** The walk reached the end of the queue. */
  walked: boolean;
  /** Messages per action taken on their job (see private.dead_letters.action). */
  actions: Partial<Record<DeadLetterAction, number>>;
  sqsCalls: number;
}

/** Messages per database call. */
const RECORD_BATCH = 250;
/** SQS takes at most 10 per receive. */
const SQS_BATCH = 10;
/**
 * A short poll samples only some of SQS's servers and may find nothing while messages remain; a
 * long poll asks them all, and answers at once when there are messages. So only an empty long
 * poll ends the walk (it costs the walk one second at its end).
 */
const LONG_POLL_SECONDS = 1;

export async function walkDeadLetters(deps: WalkDeps): Promise<WalkResult> {
  const deadline = deps.now() + deps.budgetMs;
  const read = new Map<string, DeadLetter>();
  const actions: WalkResult["actions"] = {};
  let sqsCalls = 0;
  let walked = false;
  let unrecorded: DeadLetter[] = [];
  let recording = Promise.resolve();
  let recordFailed = false;
  const record = () => {
    const batch = unrecorded;
    unrecorded = [];
    if (batch.length === 0) return;
    recording = recording.then(async () => {
      const counts = await deps.store.recordDeadLetters(batch);
      for (const [action, n] of Object.entries(counts) as [DeadLetterAction, number][]) {
        actions[action] = (actions[action] ?? 0) + n;
      }
    });
    // Awaited at the end of the walk; meanwhile a failure stops the reading, and must not count
    // as unhandled.
    recording.catch(() => (recordFailed = true));
  };
  let failure: { error: unknown } | undefined;
  try {
    while (deps.now() < deadline) {
      if (recordFailed) break;
      const batch = await deps.dlq.receive(SQS_BATCH, deps.hideSeconds, LONG_POLL_SECONDS);
      sqsCalls++;
      if (batch.length === 0) {
        walked = true;
        break;
      }
      for (const message of batch) {
        if (!read.has(message.messageId)) unrecorded.push(message);
        // The latest receipt handle is the one SQS honours.
        read.set(message.messageId, message);
      }
      if (unrecorded.length >= RECORD_BATCH) record();
    }
    record();
    await recording;
  } catch (error) {
    failure = { error };
    // A receive that failed leaves a recording under way: let it end before the lease goes.
    await recording.catch(() => {});
  }
  if (walked || failure) {
    try {
      sqsCalls += await showAgain(deps.dlq, [...read.values()]);
    } catch (error) {
      // The walk's own failure says more; the messages come back after hideSeconds anyway.
      if (!failure) throw error;
    }
  }
  if (failure) throw failure.error;
  return { read: read.size, walked, actions, sqsCalls };
}

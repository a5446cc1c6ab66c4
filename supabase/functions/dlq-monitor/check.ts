/**
 * One check of the dead-letter queue: its depth, then a walk over every message in it (walk.ts),
 * each recorded and its job settled; then, in one transaction, the rows of messages that left
 * the DLQ removed and the alert decided, with counts of everything recorded.
 */
import type { DeadLetterQueue } from "./dlq.ts";
import { alertMessage } from "./message.ts";
import type { DeadLetterAction, MonitorStore } from "./store.ts";
import { walkDeadLetters } from "./walk.ts";

export interface CheckDeps {
  dlq: DeadLetterQueue;
  store: MonitorStore;
  /** AWS region of the queue, for the console link in alerts. */
  region: string;
  /** How long a walk may read (under the minute schedule and pg_net's 30 s timeout). */
  walkBudgetMs: number;
  now(): number;
}

export interface CheckResult {
  depth: number;
  inFlight: number;
  /** Distinct messages read by this check's walk. */
  read: number;
  /** The walk read the whole queue; false: out of budget, the next run goes on. */
  walked: boolean;
  /** What this check did about the messages it read, per action. */
  actions: Partial<Record<DeadLetterAction, number>>;
  /** Jobs this check marked failed (dead-lettered). */
  deadLettered: number;
  /** Rows removed: their messages left the DLQ. */
  pruned: number;
  sqsCalls: number;
  durationMs: number;
  alert: string | null;
}

/**
 * How long a walk's reads stay hidden when it runs out of budget: past the next scheduled run
 * (a minute later) and that run's own walk, so it goes on where this one stopped.
 */
export function hideSecondsFor(walkBudgetMs: number): number {
  return 60 + Math.ceil(walkBudgetMs / 1000) + 30;
}

export async function checkDeadLetters(deps: CheckDeps): Promise<CheckResult> {
  const started = deps.now();
  const since = await deps.store.now();
  const { visible, inFlight } = await deps.dlq.depth();
  const depth = visible + inFlight;
  const walk = depth > 0
    ? await walkDeadLetters({
      dlq: deps.dlq,
      store: deps.store,
      budgetMs: deps.walkBudgetMs,
      hideSeconds: hideSecondsFor(deps.walkBudgetMs),
      expected: visible,
      now: deps.now,
    })
    : { read: 0, walked: true, actions: {}, sqsCalls: 0 };
  // Rows the walk did not see are gone from the DLQ, unless someone else (a redrive, an earlier
  // walk cut short) held messages hidden from it: then they wait for a walk that saw everything.
  const pruneSince = walk.walked && inFlight === 0 ? since : null;
  const record = await deps.store.finishCheck(depth, pruneSince, (r) =>
    alertMessage({
      kind: r.alert!,
      queueName: deps.dlq.name,
      queueUrl: deps.dlq.url,
      region: deps.region,
      depth,
      inFlight,
      previousDepth: r.previousDepth,
      incidentSince: r.incidentSince ?? undefined,
      summary: r.summary,
    }));
  return {
    depth,
    inFlight,
    read: walk.read,
    walked: walk.walked,
    actions: walk.actions,
    deadLettered: walk.actions.settled ?? 0,
    pruned: record.pruned,
    sqsCalls: walk.sqsCalls + 1,
    durationMs: Math.round(deps.now() - started),
    alert: record.alert,
  };
}

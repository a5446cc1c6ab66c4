/**
 * One check of the dead-letter queue: its depth, then a walk over every message in it (walk.ts),
 * each recorded and its job settled; then, in one transaction, the rows of messages that left
 * the DLQ removed and the alert decided, with counts of everything recorded. One reader of the
 * DLQ at a time (a lease in the database): a check that finds another walking, or a redrive,
 * decides the alert on the depth alone.
 */
import { type DeadLetterQueue, holdingDlq } from "./dlq.ts";
import { alertMessage } from "./message.ts";
import type { DeadLetterAction, MonitorStore } from "./store.ts";
import { walkDeadLetters, type WalkResult } from "./walk.ts";

export interface CheckDeps {
  dlq: DeadLetterQueue;
  store: MonitorStore;
  /** AWS region of the queue, for the console link in alerts. */
  region: string;
  /** How long a walk may read (under the minute schedule; see config.ts). */
  walkBudgetMs: number;
  now(): number;
}

export interface CheckResult {
  depth: number;
  inFlight: number;
  /** Distinct messages read by this check's walk. */
  read: number;
  /** The walk read the whole queue; false: out of budget (the next run goes on), or skipped. */
  walked: boolean;
  /** Set when another check was walking the DLQ: this one did not. */
  skipped?: string;
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

/**
 * Which rows a whole walk may remove, as seconds before its start: every row it did not see when
 * the DLQ was empty; otherwise only rows no walk has seen for longer than a walk hides a message
 * (a walk cut short may still hide some; SQS's in-flight count lags, so it cannot tell).
 */
export function pruneMarginSeconds(depth: number, hideSeconds: number): number {
  return depth === 0 ? 0 : hideSeconds;
}

const NOT_WALKED: WalkResult = { read: 0, walked: false, actions: {}, sqsCalls: 0 };

export async function checkDeadLetters(deps: CheckDeps): Promise<CheckResult> {
  const started = deps.now();
  const since = await deps.store.now();
  const { visible, inFlight } = await deps.dlq.depth();
  const depth = visible + inFlight;
  const hideSeconds = hideSecondsFor(deps.walkBudgetMs);
  let walk = NOT_WALKED;
  let skipped: string | undefined;
  if (depth === 0) {
    walk = { ...NOT_WALKED, walked: true };
  } else {
    const walked = await holdingDlq(deps.store, deps.walkBudgetMs, () =>
      walkDeadLetters({
        dlq: deps.dlq,
        store: deps.store,
        budgetMs: deps.walkBudgetMs,
        hideSeconds,
        now: deps.now,
      }));
    if (walked) walk = walked;
    else skipped = "another check or a redrive holds the DLQ";
  }
  const prune = walk.walked
    ? { since, marginSeconds: pruneMarginSeconds(depth, hideSeconds) }
    : null;
  const record = await deps.store.finishCheck(depth, prune, (r) =>
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
    ...(skipped ? { skipped } : {}),
    actions: walk.actions,
    deadLettered: walk.actions.settled ?? 0,
    pruned: record.pruned,
    sqsCalls: walk.sqsCalls + 1,
    durationMs: Math.round(deps.now() - started),
    alert: record.alert,
  };
}

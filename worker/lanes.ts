/**
 * Which lane a worker receives from next. Slots go to the highest lane that has work, except
 * that each lower lane with work keeps `kept` of them (its share), so a saturated high lane
 * never starves the others. A lower lane short of its share while a higher one has work is served
 * first: its slots are refilled as soon as they free, not after the high lane's next batch.
 * A lane whose last receive came back empty is quiet for a while (RECHECK_MS while the worker
 * has jobs, IDLE_RECHECK_MS while it has none) and is then looked at again; while no lane has
 * work, the worker keeps one long poll waiting on the default lane (see worker.ts), so a job there
 * is taken the moment it arrives, as with one queue, and one in another lane within about half a
 * second.
 */
import type { Lane } from "../supabase/functions/_shared/lanes.ts";

/** SQS returns at most 10 messages per receive. */
const MAX_RECEIVE = 10;
/** How long an empty lane is left alone while the worker is busy, before it is looked at again. */
export const RECHECK_MS = 250;
/** The same while the worker holds no job: fewer calls while nothing happens. */
export const IDLE_RECHECK_MS = 500;

export interface LaneView {
  lane: Lane;
  /** Jobs of this lane the worker holds. */
  running: number;
  /** Its last receive came back empty a moment ago, or a long poll is waiting on it. */
  quiet: boolean;
  /** Its last receive brought messages: it has work (not merely "not looked at lately"). */
  busy: boolean;
}

export interface NextReceive {
  lane: Lane;
  max: number;
  waitSeconds: number;
}

/**
 * Slots each lane below the highest keeps while it has work: `share` of the worker's slots,
 * rounded, leaving the highest lane at least one.
 */
export function keptPerLowerLane(concurrency: number, share: number, lanes: number): number {
  if (lanes <= 1) return 0;
  const most = Math.floor((concurrency - 1) / (lanes - 1));
  return Math.max(0, Math.min(Math.round(share * concurrency), most));
}

/**
 * lanes: highest first, each with what the worker holds of it. free: slots free now (> 0).
 * waitSeconds: the configured long poll, used as it is when there is only one lane. Undefined:
 * every lane is quiet, nothing to receive until one is due again.
 */
export function nextReceive(
  lanes: LaneView[],
  free: number,
  kept: number,
  waitSeconds: number,
): NextReceive | undefined {
  if (lanes.length === 1) {
    return { lane: lanes[0]!.lane, max: Math.min(MAX_RECEIVE, free), waitSeconds };
  }
  // A lower lane short of its share while a higher lane has work: its own slots first.
  for (const [i, view] of lanes.entries()) {
    const owed = kept - view.running;
    const contended = lanes.slice(0, i).some((l) => l.busy);
    if (contended && !view.quiet && owed > 0) {
      return { lane: view.lane, max: Math.min(MAX_RECEIVE, owed, free), waitSeconds: 0 };
    }
  }
  /** Free slots lane i may take: those the lower lanes with work do not keep. */
  const room = (i: number) =>
    free - lanes.slice(i + 1).reduce(
      (sum, l) => sum + (l.quiet ? 0 : Math.max(0, kept - l.running)),
      0,
    );
  for (const [i, view] of lanes.entries()) {
    const max = Math.min(MAX_RECEIVE, room(i));
    if (!view.quiet && max > 0) return { lane: view.lane, max, waitSeconds: 0 };
  }
  return undefined;
}

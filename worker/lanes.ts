/**
 * Which lane a worker receives from next. Slots go to the highest lane that has work, except
 * that each lower lane with work keeps `kept` of them (its share), so a saturated high lane
 * never starves the others. A lane whose last receive came back empty is left alone for
 * RECHECK_MS; when every lane is, the worker waits on the idle lane (the default lane) with a
 * long poll of at most IDLE_WAIT_SECONDS, then looks at every lane again: a job in the default
 * lane is taken the moment it arrives, as with one queue, and one in another lane within about a
 * second.
 */
import type { Lane } from "../supabase/functions/_shared/lanes.ts";

/** SQS returns at most 10 messages per receive. */
const MAX_RECEIVE = 10;
/** How long an empty lane is left alone before it is looked at again. */
export const RECHECK_MS = 250;
/** The longest wait on the idle lane while other lanes may get work. */
export const IDLE_WAIT_SECONDS = 1;

export interface LaneView {
  lane: Lane;
  /** Jobs of this lane the worker holds. */
  running: number;
  /** Its last receive came back empty, less than RECHECK_MS ago. */
  quiet: boolean;
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
 * waitSeconds: the configured long poll, used as it is when there is only one lane.
 */
export function nextReceive(
  lanes: LaneView[],
  free: number,
  kept: number,
  waitSeconds: number,
  idleLane: Lane,
): NextReceive {
  if (lanes.length === 1) {
    return { lane: lanes[0]!.lane, max: Math.min(MAX_RECEIVE, free), waitSeconds };
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
  const idle = Math.max(0, lanes.findIndex((l) => l.lane === idleLane));
  return {
    lane: lanes[idle]!.lane,
    max: Math.max(1, Math.min(MAX_RECEIVE, room(idle))),
    waitSeconds: Math.min(waitSeconds, IDLE_WAIT_SECONDS),
  };
}

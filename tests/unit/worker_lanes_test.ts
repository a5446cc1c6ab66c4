/** worker/lanes.ts: which lane a worker receives from next, and the share lower lanes keep. */
import assert from "node:assert/strict";
import type { Lane } from "../../supabase/functions/_shared/lanes.ts";
import { keptPerLowerLane, type LaneView, nextReceive } from "../../worker/lanes.ts";

const view = (lane: Lane, running = 0, quiet = false, busy = !quiet): LaneView => ({
  lane,
  running,
  quiet,
  busy,
});

Deno.test("keptPerLowerLane(): the share of the slots, rounded, always leaving the top lane one", () => {
  assert.equal(keptPerLowerLane(10, 0.2, 3), 2);
  assert.equal(keptPerLowerLane(10, 0, 3), 0, "0: strict priority");
  assert.equal(keptPerLowerLane(10, 0.5, 3), 4, "at most (10 - 1) / 2 each");
  assert.equal(keptPerLowerLane(1, 0.5, 3), 0, "one slot cannot be shared");
  assert.equal(keptPerLowerLane(10, 0.2, 1), 0, "one lane keeps nothing");
});

Deno.test("one lane: today's long poll for up to 10 free slots", () => {
  assert.deepEqual(nextReceive([view("default")], 25, 0, 20), {
    lane: "default",
    max: 10,
    waitSeconds: 20,
  });
});

Deno.test("the highest lane with work goes first, without waiting", () => {
  const lanes = [view("high"), view("default"), view("low")];
  assert.deepEqual(nextReceive(lanes, 10, 0, 20), {
    lane: "high",
    max: 10,
    waitSeconds: 0,
  });
  const highQuiet = [view("high", 0, true), view("default"), view("low")];
  assert.equal(nextReceive(highQuiet, 10, 0, 20)?.lane, "default");
});

Deno.test("lower lanes with work keep their share: served first, the high lane gets the rest", () => {
  // 10 free, 2 kept by each of default and low (both may have work): they are refilled first...
  const lanes = [view("high"), view("default"), view("low")];
  assert.deepEqual(nextReceive(lanes, 10, 2, 20), {
    lane: "default",
    max: 2,
    waitSeconds: 0,
  });
  // ...and high may take the 6 they do not keep.
  const served = [view("high"), view("default", 2), view("low", 2)];
  assert.equal(nextReceive(served, 6, 2, 20)?.max, 6);
  assert.equal(nextReceive(served, 6, 2, 20)?.lane, "high");
  // A quiet lane keeps nothing; one already running its share keeps nothing more.
  const some = [view("high", 6), view("default", 0, true), view("low", 2)];
  assert.deepEqual(nextReceive(some, 2, 2, 20), {
    lane: "high",
    max: 2,
    waitSeconds: 0,
  });
  // With one free slot kept for low (running 1 of its 2), the slot goes to low.
  const lowShort = [view("high", 8), view("default", 0, true), view("low", 1)];
  assert.deepEqual(nextReceive(lowShort, 1, 2, 20), {
    lane: "low",
    max: 1,
    waitSeconds: 0,
  });
});

Deno.test("a lane alone with work takes a whole batch, share or not", () => {
  const onlyDefault = [view("high", 0, true), view("default", 0), view("low", 0, true)];
  assert.deepEqual(nextReceive(onlyDefault, 10, 2, 20), {
    lane: "default",
    max: 10,
    waitSeconds: 0,
  });
});

Deno.test("every lane quiet: nothing to receive until one is due (the default lane has its long poll)", () => {
  const quiet = [view("high", 0, true), view("default", 0, true), view("low", 0, true)];
  assert.equal(nextReceive(quiet, 10, 2, 20), undefined);
});

Deno.test("a higher lane not looked at lately is not work: a lower lane with work takes a whole batch", () => {
  // high's recheck is due (not quiet) but its last receive was empty (not busy).
  const lanes = [view("high", 0, false, false), view("default", 0), view("low", 0, true)];
  assert.deepEqual(nextReceive(lanes, 10, 2, 20), { lane: "high", max: 8, waitSeconds: 0 });
});

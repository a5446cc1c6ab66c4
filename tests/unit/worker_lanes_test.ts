/** worker/lanes.ts: which lane a worker receives from next, and the share lower lanes keep. */
import assert from "node:assert/strict";
import type { Lane } from "../../supabase/functions/_shared/lanes.ts";
import {
  IDLE_WAIT_SECONDS,
  keptPerLowerLane,
  type LaneView,
  nextReceive,
} from "../../worker/lanes.ts";

const view = (lane: Lane, running = 0, quiet = false): LaneView => ({ lane, running, quiet });

Deno.test("keptPerLowerLane(): the share of the slots, rounded, always leaving the top lane one", () => {
  assert.equal(keptPerLowerLane(10, 0.2, 3), 2);
  assert.equal(keptPerLowerLane(10, 0, 3), 0, "0: strict priority");
  assert.equal(keptPerLowerLane(10, 0.5, 3), 4, "at most (10 - 1) / 2 each");
  assert.equal(keptPerLowerLane(1, 0.5, 3), 0, "one slot cannot be shared");
  assert.equal(keptPerLowerLane(10, 0.2, 1), 0, "one lane keeps nothing");
});

Deno.test("one lane: today's long poll for up to 10 free slots", () => {
  assert.deepEqual(nextReceive([view("default")], 25, 0, 20, "default"), {
    lane: "default",
    max: 10,
    waitSeconds: 20,
  });
});

Deno.test("the highest lane with work goes first, without waiting", () => {
  const lanes = [view("high"), view("default"), view("low")];
  assert.deepEqual(nextReceive(lanes, 10, 0, 20, "default"), {
    lane: "high",
    max: 10,
    waitSeconds: 0,
  });
  const highQuiet = [view("high", 0, true), view("default"), view("low")];
  assert.equal(nextReceive(highQuiet, 10, 0, 20, "default").lane, "default");
});

Deno.test("lower lanes with work keep their share: the high lane gets what is left", () => {
  // 10 free, 2 kept by each of default and low (both may have work): high may take 6.
  const lanes = [view("high"), view("default"), view("low")];
  assert.equal(nextReceive(lanes, 10, 2, 20, "default").max, 6);
  // A quiet lane keeps nothing; one already running its share keeps nothing more.
  const some = [view("high", 6), view("default", 0, true), view("low", 2)];
  assert.deepEqual(nextReceive(some, 2, 2, 20, "default"), {
    lane: "high",
    max: 2,
    waitSeconds: 0,
  });
  // With one free slot kept for low (running 1 of its 2), the slot goes to low.
  const lowShort = [view("high", 8), view("default", 0, true), view("low", 1)];
  assert.deepEqual(nextReceive(lowShort, 1, 2, 20, "default"), {
    lane: "low",
    max: 1,
    waitSeconds: 0,
  });
});

Deno.test("every lane quiet: a short long poll on the default lane, then all are looked at again", () => {
  const quiet = [view("high", 0, true), view("default", 0, true), view("low", 0, true)];
  assert.deepEqual(nextReceive(quiet, 10, 2, 20, "default"), {
    lane: "default",
    max: 10,
    waitSeconds: IDLE_WAIT_SECONDS,
  });
  assert.equal(nextReceive(quiet, 10, 2, 0, "default").waitSeconds, 0, "never longer than set");
});

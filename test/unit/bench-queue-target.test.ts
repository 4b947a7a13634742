// Bench 9's target is a cost ceiling: a durable queue that is faster than the old in-memory one meets it.
import { expect, test } from "bun:test";
import { queueTargetMet } from "../../bench/queue.ts";

test("faster than the baseline meets the target; more than 0.2 ms slower misses it", () => {
  expect([queueTargetMet([-9.8, -2.41]), queueTargetMet([0.2, 0]), queueTargetMet([0.21, -1]), queueTargetMet([-0.1, 0.5])]).toEqual([true, true, false, false]);
});

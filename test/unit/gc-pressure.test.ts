// Collections follow the volume read from agents, not time: one per threshold crossed, never more.
import { expect, test } from "bun:test";
import { GcPressure } from "../../src/lib/gc-pressure.ts";

test("collects once each time the bytes read cross the threshold", () => {
  let collections = 0;
  const gc = new GcPressure(1000, () => collections++);
  for (let i = 0; i < 9; i++) gc.add(100);
  expect(collections).toBe(0);
  gc.add(100);
  expect(collections).toBe(1);
  gc.add(5000);
  expect(collections).toBe(2);
  gc.add(999);
  expect(collections).toBe(2);
  expect(gc.collections).toBe(2);
});

test("settle collects at the end of a run only when it read an eighth of the threshold, and that much was read since the last collection", () => {
  let collections = 0;
  const gc = new GcPressure(8000, () => collections++);
  gc.add(999);
  gc.settle(999);
  expect(collections).toBe(0);
  gc.add(1);
  gc.settle(1000);
  expect(collections).toBe(1);
  // Nothing read since: a second settle of the same run costs nothing.
  gc.settle(1000);
  gc.add(500);
  gc.settle(1500);
  expect([collections, gc.collections]).toEqual([1, 1]);
});

test("small runs never collect at their end, however many came before; their bytes still count towards the threshold", () => {
  let collections = 0;
  const gc = new GcPressure(8000, () => collections++);
  const settled: number[] = [];
  for (let run = 0; run < 79; run++) {
    gc.add(100);
    gc.settle(100);
    settled.push(collections);
  }
  // 7,900 bytes read by small runs: no run paid a collection at its end (it used to be the 10th's).
  expect(settled.every((c) => c === 0)).toBe(true);
  gc.add(100);
  expect(collections).toBe(1);
  // A run that read a lot still collects at its end.
  gc.add(1500);
  gc.settle(1500);
  expect([collections, gc.collections]).toEqual([2, 2]);
});

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

test("settle collects at the end of a run only when it read an eighth of the threshold since the last collection", () => {
  let collections = 0;
  const gc = new GcPressure(8000, () => collections++);
  gc.add(999);
  gc.settle();
  expect(collections).toBe(0);
  gc.add(1);
  gc.settle();
  expect(collections).toBe(1);
  // Nothing read since: a second settle (or a small run) costs nothing.
  gc.settle();
  gc.add(500);
  gc.settle();
  expect([collections, gc.collections]).toEqual([1, 1]);
});

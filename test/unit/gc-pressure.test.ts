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

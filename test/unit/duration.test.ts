// Go-style duration parsing and printing.
import { expect, test } from "bun:test";
import { formatDuration, parseDuration } from "../../src/lib/duration.ts";

test.each([
  ["300s", 300_000],
  ["5m", 300_000],
  ["1m30s", 90_000],
  ["1.5h", 5_400_000],
  ["250ms", 250],
  ["2h45m", 9_900_000],
  ["1h0m0s", 3_600_000],
  ["500us", 0.5],
  ["7d", 604_800_000],
  ["300", 300_000],
  [" 10s ", 10_000],
])("parse %p", (text, ms) => {
  expect(parseDuration(text)).toBe(ms);
});

test.each(["", "s", "5 m", "5x", "-5s", "1m 30s", "abc", "5s5", "1e3s"])("parse rejects %p", (text) => {
  expect(parseDuration(text)).toBeNull();
});

test.each([
  [0, "0s"],
  [0.5, "500µs"],
  [1, "1ms"],
  [450, "450ms"],
  [1000, "1s"],
  [2500, "2.5s"],
  [2512.4, "2.512s"],
  [60_000, "1m0s"],
  [90_000, "1m30s"],
  [300_000, "5m0s"],
  [3_600_000, "1h0m0s"],
  [3_723_450, "1h2m3.45s"],
])("format %p → %p", (ms, text) => {
  expect(formatDuration(ms)).toBe(text);
});

// `bun run bench --only …`: the re-run benches replace their rows and sections in bench/RESULTS.md, the others stay.
import { expect, test } from "bun:test";
import { mergeResults } from "../../bench/support/merge-results.ts";

const doc = (produced: string, benches: [number, string][]) =>
  [
    "# Benchmark results",
    "",
    produced,
    "",
    "## Machine",
    "",
    "- CPU: test",
    "",
    "## Summary",
    "",
    "| benchmark | target | result | |",
    "|---|---|---|---|",
    ...benches.map(([n, r]) => `| ${n}. Bench ${n} | t | ${r} | met |`),
    "",
    ...benches.flatMap(([n, r]) => [`## ${n}. Bench ${n}`, "", `Result: ${r}.`, ""]),
  ].join("\n");

test("the fresh benches replace theirs, in number order; the others and the first run's date stay; the re-run is named", () => {
  const previous = doc("Produced by `bun run bench` on 2026-12-01 21:04 UTC, in 780 s.", [
    [1, "old one"],
    [2, "old two"],
    [13, "old thirteen"],
  ]);
  const fresh = doc("Produced by `bun run bench --only dashboard` on 2026-12-01 22:00 UTC, in 20 s.", [[13, "new thirteen"]]);
  const merged = mergeResults(previous, fresh, "Re-run with `bun run bench --only dashboard` on 2026-12-01 22:00 UTC: 13.");
  expect(merged).toBe(
    doc("Produced by `bun run bench` on 2026-12-01 21:04 UTC, in 780 s. Re-run with `bun run bench --only dashboard` on 2026-12-01 22:00 UTC: 13.", [
      [1, "old one"],
      [2, "old two"],
      [13, "new thirteen"],
    ]),
  );
});

test("nothing to merge into: null (the fresh results are written as they are)", () => {
  expect(mergeResults(null, doc("Produced by x.", [[13, "new"]]), "r")).toBeNull();
  expect(mergeResults("# Benchmark results\n", doc("Produced by x.", [[13, "new"]]), "r")).toBeNull();
});

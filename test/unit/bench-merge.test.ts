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

test("a re-run on another machine keeps the full run's machine and says which machine the re-run had", () => {
  const previous = doc("Produced by `bun run bench` on 2026-12-01 21:04 UTC, in 780 s.", [
    [1, "old one"],
    [13, "old thirteen"],
  ]);
  const fresh = doc("Produced by `bun run bench --only latency` on 2026-12-03 12:51 UTC, in 80 s.", [[1, "new one"]]).replace("- CPU: test", "- CPU: other\n- OS: elsewhere");
  const rerun = "Re-run with `bun run bench --only latency` on 2026-12-03 12:51 UTC: 1.";
  const merged = mergeResults(previous, fresh, rerun);
  const expected = doc(`Produced by \`bun run bench\` on 2026-12-01 21:04 UTC, in 780 s. ${rerun}`, [
    [1, "new one"],
    [13, "old thirteen"],
  ]).replace("- CPU: test", "- CPU: test\n- Re-run with `bun run bench --only latency` on 2026-12-03 12:51 UTC: 1 ran on another machine: CPU: other; OS: elsewhere");
  expect(merged).toBe(expected);
  // A second re-run on the full run's machine adds nothing about machines; the earlier note stays.
  const again = mergeResults(merged, doc("Produced by y.", [[13, "newer thirteen"]]), "Re-run z.");
  expect(again?.split("\n").filter((l) => l.includes("ran on another machine"))).toHaveLength(1);
  expect(again).toContain("- CPU: test\n- Re-run with");
});

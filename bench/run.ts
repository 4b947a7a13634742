// Runs the benchmarks and writes bench/RESULTS.md: `bun run bench [--quick] [--only latency,clone]`.
import path from "node:path";
import { clone } from "./clone.ts";
import { concurrency } from "./concurrency.ts";
import { dashboard } from "./dashboard.ts";
import { followUp } from "./follow-up.ts";
import { keyProxy } from "./key-proxy.ts";
import { keys } from "./keys.ts";
import { latency } from "./latency.ts";
import { memory } from "./memory.ts";
import { opencode } from "./opencode.ts";
import { queue } from "./queue.ts";
import { replicas } from "./replicas.ts";
import { sandbox } from "./sandbox.ts";
import { machineInfo, removeTempDirs, ROOT, type BenchContext, type BenchResult } from "./support/common.ts";
import { mergeResults } from "./support/merge-results.ts";
import { throughput } from "./throughput.ts";
import { webhooks } from "./webhooks.ts";

const BENCHES: Record<string, (ctx: BenchContext) => Promise<BenchResult>> = { latency, throughput, opencode, clone, concurrency, memory, sandbox, "key-proxy": keyProxy, queue, replicas, "follow-up": followUp, webhooks, dashboard, keys };

function parseArgs(argv: string[]): { quick: boolean; only: string[] } {
  const quick = argv.includes("--quick");
  const at = argv.indexOf("--only");
  const only = at >= 0 ? (argv[at + 1] ?? "").split(",").filter(Boolean) : Object.keys(BENCHES);
  const unknown = only.filter((name) => !(name in BENCHES));
  if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")}`);
  return { quick, only };
}

const verdict = (r: BenchResult) => (r.met === null ? "—" : r.met ? "met" : "**missed**");

async function main(): Promise<number> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  const ctx: BenchContext = { quick, log: (line) => console.log(line) };
  const started = new Date();
  const results: BenchResult[] = [];
  const failures: string[] = [];
  for (const name of only) {
    const fn = BENCHES[name] as (ctx: BenchContext) => Promise<BenchResult>;
    const t = performance.now();
    try {
      results.push(await fn(ctx));
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      console.error(`${name} failed:`, err);
    }
    removeTempDirs();
    console.log(`${name} took ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const command = `bun run bench${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
  const lines = [
    "# Benchmark results",
    "",
    quick ? "**Quick mode** (a round or two each): proves the scripts run; the numbers are not meaningful." : "",
    `Produced by \`${command}\` on ${started.toISOString().slice(0, 16).replace("T", " ")} UTC, in ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s.`,
    "",
    "## Machine",
    "",
    ...(await machineInfo()),
    "",
    "## Summary",
    "",
    "| benchmark | target | result | |",
    "|---|---|---|---|",
    ...results.map((r) => `| ${r.name} | ${r.target} | ${r.summary} | ${verdict(r)} |`),
    ...failures.map((f) => `| ${f.split(":")[0]} | — | failed to run | **error** |`),
    "",
    ...results.flatMap((r) => [`## ${r.name}`, "", `Target: ${r.target}. Result: ${r.summary} — ${verdict(r)}.`, "", ...r.details, ""]),
  ];
  // Quick results are a CI by-product: they never overwrite the committed full results.
  const file = path.join(ROOT, "bench", quick ? "RESULTS.quick.md" : "RESULTS.md");
  let text = lines.filter((l, i, all) => !(l === "" && all[i - 1] === "")).join("\n");
  // A subset re-run updates its own benches in the full results and keeps the rest as measured.
  const subset = !quick && only.length < Object.keys(BENCHES).length;
  if (subset) {
    const previous = (await Bun.file(file).exists()) ? await Bun.file(file).text() : null;
    const rerun = `Re-run with \`${command}\` on ${started.toISOString().slice(0, 16).replace("T", " ")} UTC: ${results.map((r) => r.name.split(" ")[0]).join(" ")}`;
    text = mergeResults(previous, text, rerun) ?? text;
  }
  await Bun.write(file, text);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  if (failures.length > 0) {
    console.error(`${failures.length} benchmark(s) failed to run`);
    return 1;
  }
  return 0;
}

process.exit(await main());

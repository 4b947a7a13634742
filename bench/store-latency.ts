// Per-call cost of the run stores, SQLite vs Postgres (a throwaway local cluster): enqueue, claim, append, finish, idle claim.
// bun bench/store-latency.ts [N]   (N runs per store, default 200; calls one at a time, so this is latency, not throughput)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { newRunId } from "../src/runs/ids.ts";
import type { RunStore } from "../src/runs/store.ts";
import { PgRunStore } from "../src/store/pg-store.ts";
import { SqliteRunStore } from "../src/store/sqlite-store.ts";
import { startPostgres } from "../test/support/postgres.ts";
import { events, queuedEvents, record, request, succeeded } from "../test/store/fixtures.ts";

const N = Number(process.argv[2] ?? 200);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;

async function timed(samples: number[], fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  await fn();
  samples.push(performance.now() - t0);
}

async function measure(store: RunStore): Promise<Record<string, number[]>> {
  const s: Record<string, number[]> = { enqueue: [], claim: [], append: [], finish: [], "idle claim": [] };
  const ids = Array.from({ length: N }, () => newRunId());
  const starting = (id: string, last: number) => events(id, last, [{ type: "status", status: "running" }]);
  for (const [i, id] of ids.entries()) await timed(s.enqueue as number[], () => store.enqueue(record(id, i), request("a prompt"), `repo#b${i % 5}`, queuedEvents(id), N + 1));
  for (let i = 0; i < N; i++) {
    let claimed = "";
    await timed(s.claim as number[], async () => {
      claimed = (await store.claim("bench", Date.now(), Date.now() + 60_000, () => false, starting))?.record.id ?? "";
    });
    await timed(s.append as number[], () => store.appendEvents(events(claimed, 2, [{ type: "text", text: "some output" }])));
    await timed(s.finish as number[], () => store.finish(claimed, succeeded(claimed, Date.now()), events(claimed, 3, [{ type: "status", status: "succeeded" }])));
  }
  for (let i = 0; i < N; i++) await timed(s["idle claim"] as number[], () => store.claim("bench", Date.now(), Date.now() + 60_000, () => false, starting));
  return s;
}

function report(name: string, s: Record<string, number[]>): void {
  const cells = Object.entries(s).map(([call, xs]) => `${call} p50 ${pct(xs, 50).toFixed(3)} / p99 ${pct(xs, 99).toFixed(3)} ms`);
  console.log(`${name.padEnd(8)} ${cells.join(" | ")}`);
}

const dir = mkdtempSync(path.join(os.tmpdir(), "ocs-bench-store-"));
const cluster = await startPostgres();
try {
  const sqlite = new SqliteRunStore(path.join(dir, "runs.db"));
  report("sqlite", await measure(sqlite));
  await sqlite.close();
  const pg = await PgRunStore.open(await cluster.createDatabase(), { connectTimeoutMs: 10_000 });
  report("postgres", await measure(pg));
  await pg.close();
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}

// Load: 200 concurrent /run, then a steady /health flood with runs in flight; RSS bounded, descriptors back to baseline.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { percentile } from "../../bench/support/common.ts";
import { ROOT, SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { processesMatching } from "../support/procs.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor, settledDir } from "../support/wait.ts";
import { figure, scale } from "./support/figures.ts";

// A shell stand-in for `opencode run --format json`: "sleep N" waits, anything else answers at once.
const AGENT = path.join(ROOT, "bench/fake-agent.sh");
const CONCURRENT_RUNS = 200;
const FLOOD_SECONDS = scale(5, 30);
const HEALTH_PER_SECOND = 1000;
const TICK_MS = 100;
const LANES = 8;
/** Far above what the server needs (~100 MiB); a leak per request or per run would cross it. */
const RSS_LIMIT_MIB = 512;

let server: ServerProcess;
let workDir: string;

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** Every request opens its own connection, so the server's descriptors measure the server, not a client pool. */
async function call(pathname: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${pathname}`, { ...init, keepalive: false, headers: { connection: "close", ...(init.headers ?? {}) } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const run = (prompt: string) => call("/run", { method: "POST", headers: { "content-type": "text/plain" }, body: prompt });

async function idle(): Promise<void> {
  await waitFor(
    async () => {
      const { body } = await call("/health");
      return body.runs_in_flight === 0 && body.runs_queued === 0;
    },
    { what: "no run in flight", timeoutMs: 30_000 },
  );
}

beforeAll(async () => {
  const home = tempDir("ocs-load-home-");
  workDir = tempDir("ocs-load-work-");
  server = await spawnServer(SOURCE_CMD, {
    HOME: home,
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOST: "127.0.0.1",
    PORT: "0",
    WORK_DIR: workDir,
    DATA_DIR: path.join(home, "data"),
    OPENCODE_BIN: AGENT,
    OPENCODE_AUTH_TOKEN: "load-test-provider-token",
    MAX_CONCURRENT_RUNS: String(LANES),
    MAX_QUEUED_RUNS: "256",
    MAX_EXECUTION_TIME: "60s",
  });
});

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
});

test(`${CONCURRENT_RUNS} concurrent /run, then ${HEALTH_PER_SECOND} /health per second with runs in flight: nothing fails, RSS bounded, descriptors back to baseline`, async () => {
  const pid = server.proc.pid;
  // Warm up every path once (store, workspace, agent spawn) so the baseline includes what stays open.
  expect((await run("warm up")).status).toBe(200);
  await idle();
  const baseline = { fds: openFds(pid), rss: rssMiB(pid) };
  let peakRss = baseline.rss;
  let peakFds = baseline.fds;
  const sample = () => {
    peakRss = Math.max(peakRss, rssMiB(pid));
    peakFds = Math.max(peakFds, openFds(pid));
  };

  // Phase 1: a burst of synchronous runs, all queued at once.
  const burstStarted = performance.now();
  const burst = await Promise.all(Array.from({ length: CONCURRENT_RUNS }, (_, i) => run(`burst ${i}`)));
  const burstMs = performance.now() - burstStarted;
  sample();
  const burstStatuses = Object.groupBy(burst, (r) => String(r.status));
  expect(Object.keys(burstStatuses)).toEqual(["200"]);
  for (const r of burst) expect(r.body).toMatchObject({ success: true, output: "ok", error: null });

  // Phase 2: LANES one-second runs kept in flight while /health is hit at a steady rate.
  let flooding = true;
  const laneResults: number[] = [];
  const lanes = Array.from({ length: LANES }, async () => {
    while (flooding) laneResults.push((await run("sleep 1")).status);
  });
  await waitFor(async () => (await call("/health")).body.runs_in_flight === LANES, { what: "every lane running", timeoutMs: 10_000 });

  const healthStatuses: number[] = [];
  const latencies: number[] = [];
  const ticks = (FLOOD_SECONDS * 1000) / TICK_MS;
  const floodStarted = performance.now();
  const pending: Promise<void>[] = [];
  for (let tick = 0; tick < ticks; tick++) {
    for (let i = 0; i < (HEALTH_PER_SECOND * TICK_MS) / 1000; i++) {
      const t = performance.now();
      pending.push(
        call("/health").then(
          (r) => {
            healthStatuses.push(r.status);
            latencies.push(performance.now() - t);
          },
          () => {
            healthStatuses.push(-1);
          },
        ),
      );
    }
    sample();
    // Pacing a load generator: the next tick starts on the schedule, not when the last answers arrive.
    const next = floodStarted + (tick + 1) * TICK_MS;
    if (next > performance.now()) await Bun.sleep(next - performance.now());
  }
  await Promise.all(pending);
  const floodMs = performance.now() - floodStarted;
  flooding = false;
  await Promise.all(lanes);
  sample();
  await idle();

  const failedHealth = healthStatuses.filter((s) => s !== 200).length;
  expect(healthStatuses.length).toBe(ticks * ((HEALTH_PER_SECOND * TICK_MS) / 1000));
  expect(failedHealth).toBe(0);
  expect(laneResults.length).toBeGreaterThan(0);
  expect(laneResults.filter((s) => s !== 200)).toEqual([]);

  // Descriptors return to the baseline once every connection and run has closed.
  const after = await waitFor(() => (openFds(pid) <= baseline.fds ? openFds(pid) : null), { what: `descriptors back to ${baseline.fds}`, timeoutMs: 15_000 }).catch(() => openFds(pid));
  const rssAfter = rssMiB(pid);
  figure("load", "concurrent /run (all 200 OK)", `${CONCURRENT_RUNS} in ${burstMs.toFixed(0)} ms`);
  figure("load", "/health sent", `${healthStatuses.length} in ${(floodMs / 1000).toFixed(1)} s (${((healthStatuses.length / floodMs) * 1000).toFixed(0)}/s), ${failedHealth} failed`);
  figure("load", "/health latency p50/p99", `${percentile(latencies, 0.5).toFixed(1)} / ${percentile(latencies, 0.99).toFixed(1)} ms`);
  figure("load", "runs completed during the flood", laneResults.length);
  figure("load", "server RSS baseline/peak/after", `${baseline.rss.toFixed(0)} / ${peakRss.toFixed(0)} / ${rssAfter.toFixed(0)} MiB`);
  figure("load", "open descriptors baseline/peak/after", `${baseline.fds} / ${peakFds} / ${after}`);
  expect(after).toBeLessThanOrEqual(baseline.fds);
  expect(peakRss).toBeLessThan(RSS_LIMIT_MIB);
  expect(await settledDir(workDir)).toEqual([]);
  expect(processesMatching(AGENT)).toEqual([]);
  // Every run is in the store with its final status: the warm-up, the burst and every lane's runs.
  const statuses: string[] = [];
  for (let cursor: unknown = null, page = 0; page < 50; page++) {
    const listed = await call(`/runs?limit=100${cursor ? `&cursor=${encodeURIComponent(String(cursor))}` : ""}`);
    expect(listed.status).toBe(200);
    statuses.push(...(listed.body.runs as { status: string }[]).map((r) => r.status));
    cursor = listed.body.next_cursor;
    if (!cursor) break;
  }
  expect(Object.groupBy(statuses, (s) => s)).toEqual({ succeeded: expect.any(Array) });
  expect(statuses.length).toBe(1 + CONCURRENT_RUNS + laneResults.length);
}, scale(120_000, 300_000));

// Bench 1's second reference: the floor plus only what the server's guarantees make every run do, as a server of its own.
//
// Each request: a fresh workspace (a spare made ahead, renamed into place; made on the spot when none is ready),
// the run stored (the project's SQLite store, a real record and its two status events) before the agent gets its
// prompt, the agent spawned as the floor spawns it (its own session, a run cookie in its environment), its
// output read to the end, every process carrying the cookie swept after its exit, the answer — then, after the
// answer, the end written and the workspace moved aside and deleted, and a new spare made. No routing, no auth,
// no validation, no events from the agent's lines, no log lines, no metrics: what is left is what no server that
// keeps these promises can skip. Started by bench/latency.ts with AGENT_ARGV (the fake agent's command) set.
import { mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { newRecord } from "../../src/runs/admission.ts";
import type { Limits, RunEvent } from "../../src/runs/model.ts";
import { outcomeOf, unstartedResult } from "../../src/runs/outcome.ts";
import { killProcessTree, RUN_COOKIE_VAR } from "../../src/proc/process-tree.ts";
import { enableSubreaper } from "../../src/proc/reaper.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";

const SPARES = 4;
const argv = JSON.parse(process.env.AGENT_ARGV ?? "[]") as string[];
if (argv.length === 0) throw new Error("AGENT_ARGV: the agent's command, as a JSON array");
enableSubreaper();
const dir = mkdtempSync(path.join(os.tmpdir(), "ocs-bench-gfloor-"));
const store = new SqliteRunStore(path.join(dir, "runs.db"));
const limits: Limits = { max_tokens: null, max_cost_usd: null, max_steps: null };
const spares: string[] = [];
let spareCount = 0;
let filling = false;

const layout = (root: string) => [root, `${root}/agent`, `${root}/agent/work`, `${root}/agent/home`];
const spareRoot = () => path.join(dir, `spare-${spareCount++}`);

/** Off the run's path, through the thread pool, as the server makes its spares. */
async function refill(): Promise<void> {
  if (filling) return;
  filling = true;
  while (spares.length < SPARES) {
    const root = spareRoot();
    for (const d of layout(root)) await mkdir(d, { mode: 0o700 });
    spares.push(root);
  }
  filling = false;
}

function takeWorkspace(runId: string): string {
  const root = path.join(dir, `run-${runId}`);
  const spare = spares.pop();
  if (spare) renameSync(spare, root);
  else for (const d of layout(root)) mkdirSync(d, { mode: 0o700 });
  return root;
}

const statusEvent = (runId: string, seq: number, status: string): RunEvent => ({ run_id: runId, seq, time: new Date().toISOString(), type: "status", status }) as RunEvent;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: async (req) => {
    const prompt = await req.text();
    const now = Date.now();
    const queued = newRecord({ prompt, model: null, agent: null, repository: null }, { requestId: "bench", idempotencyKey: null, fingerprint: null, model: null, now, limits, webhooks: [], thread: { asked: limits } });
    const record = { ...queued, status: "running" as const, startedAt: now, replica: "bench" };
    const root = takeWorkspace(record.id);
    const cookie = `${RUN_COOKIE_VAR}=${record.id}`;
    const p = Bun.spawn(argv, {
      cwd: `${root}/agent/work`,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: `${root}/agent/home`, TMPDIR: `${root}/agent`, [RUN_COOKIE_VAR]: record.id },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    // Stored while the agent starts; it gets its prompt only then.
    await store.insertRunning(record, [statusEvent(record.id, 1, "queued"), statusEvent(record.id, 2, "running")]);
    p.stdin.write(prompt);
    p.stdin.end();
    const [output] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).arrayBuffer()]);
    await p.exited;
    await killProcessTree({ cookie });
    const base = unstartedResult({ runId: record.id, requestId: "bench", model: null, durationMs: Date.now() - now, queueMs: 0 }, "agent_failed", "");
    const answer = outcomeOf({ ...base, ok: p.exitCode === 0, code: p.exitCode === 0 ? null : "agent_failed", output, exitCode: p.exitCode });
    setImmediate(async () => {
      const status = answer.success ? "succeeded" : "failed";
      await store.finish(record.id, { status, code: answer.success ? null : "agent_failed", error: answer.error, at: Date.now(), outcome: answer }, [statusEvent(record.id, 3, status)]);
      const trash = `${root}-trash`;
      renameSync(root, trash);
      await rm(trash, { recursive: true, force: true });
      await refill();
    });
    return Response.json(answer);
  },
});
await refill();
console.log(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${server.port}` }));
process.on("SIGTERM", () => {
  server.stop(true);
  void store.close().finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});

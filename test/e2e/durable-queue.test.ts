// The run core as a real process: DATA_DIR's disk filling mid-run, and a restart with runs waiting in the queue.
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { agentServerEnv, faultGate } from "../support/fake-opencode.ts";
import { readJson } from "../support/http.ts";
import { SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor, settledDir } from "../support/wait.ts";

const IS_ROOT = process.getuid?.() === 0;
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop("SIGKILL");
});

async function serve(env: Record<string, string>): Promise<ServerProcess> {
  const s = await spawnServer(SOURCE_CMD, { ...env, LOG_LEVEL: "info" });
  servers.push(s);
  return s;
}

const post = (url: string, path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "text/plain", ...headers }, body }).then(async (r) => ({ status: r.status, body: await readJson(r) }));

// Mounting a tmpfs needs root (CI runs as root); the same faults at every store call run in-process in test/routes/store-faults.test.ts.
describe.if(IS_ROOT)("DATA_DIR on a small tmpfs that fills while a run is in flight", () => {
  const disk = tempDir("ocs-datadisk-");
  let mounted = false;
  afterAll(() => {
    if (mounted) Bun.spawnSync(["umount", "-l", disk]);
  });

  test("the run goes on (its events wait in memory) and is answered; the server keeps serving, refuses new runs (503), says degraded, and stores the run when space returns", async () => {
    const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", disk]);
    if (m.exitCode !== 0) throw new Error(`mounting a tmpfs failed: ${m.stderr.toString()}`);
    mounted = true;
    const env = agentServerEnv({ DATA_DIR: disk, MAX_CONCURRENT_RUNS: "2", SANDBOX: "off" });
    const server = await serve(env);
    const gate = faultGate();
    // The agent waits at the gate, then prints ~0.5 MB of events: far more than the disk has left, and little
    // enough that, once the filler is gone, they and the run's answer fit with room for the next runs.
    const pending = post(server.url, "/run", `after ${gate.path} flood 500000`);
    await waitFor(async () => (await readJson(await fetch(`${server.url}/health`))).runs_in_flight === 1, { what: "the run in flight" });
    // Fill the disk (what the store has not already taken).
    const filler = path.join(disk, "filler");
    const free = statfsSync(disk).bavail * statfsSync(disk).bsize;
    writeFileSync(filler, Buffer.alloc(Math.max(0, free - 4096)));
    await gate.fire();
    const answer = await pending;
    expect(answer).toMatchObject({ status: 200, body: { success: true } });

    // Still serving: health says why, new runs are refused with a clear code.
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(503);
    expect(await readJson(health)).toMatchObject({ status: "degraded", store: "unwritable" });
    expect(await post(server.url, "/runs", "ok")).toMatchObject({ status: 503, body: { code: "store_unavailable" } });
    expect(server.proc.exitCode).toBeNull();

    rmSync(filler);
    await waitFor(async () => (await readJson(await fetch(`${server.url}/health`))).status === "healthy", { what: "the store to be writable again", timeoutMs: 15_000 });
    const after = await post(server.url, "/run", "ok");
    expect(after).toMatchObject({ status: 200, body: { success: true, output: "ok" } });
    // The run was recorded once the store came back, with every event it made, in order.
    const view = await readJson(await fetch(`${server.url}/runs/${answer.body.run_id}`));
    expect(view).toMatchObject({ status: "succeeded", code: null });
    const stream = await (await fetch(`${server.url}/runs/${answer.body.run_id}/events`)).text();
    const seqs = [...stream.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(stream).toContain("event: result");
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
  }, 90_000);
});

describe("a restart with runs waiting in the queue", () => {
  test("SIGTERM leaves queued runs queued; the next start runs them in order; a synchronous client gets 503 and, retrying with its key, the same run's answer", async () => {
    const env = agentServerEnv({ MAX_CONCURRENT_RUNS: "1", SHUTDOWN_TIMEOUT: "1s" });
    const first = await serve(env);
    const gate = faultGate();
    // One run holds the only slot; three wait behind it (two async, one synchronous with an Idempotency-Key).
    const blocking = post(first.url, "/run", `after ${gate.path} ok`);
    await waitFor(async () => (await readJson(await fetch(`${first.url}/health`))).runs_in_flight === 1, { what: "the blocking run" });
    const a = await post(first.url, "/runs", "ok");
    const b = await post(first.url, "/runs", "ok");
    const key = `durable-${process.pid}`;
    const sync = post(first.url, "/run", "ok", { "idempotency-key": key });
    await waitFor(async () => (await readJson(await fetch(`${first.url}/health`))).runs_queued === 3, { what: "three queued runs" });

    first.proc.kill("SIGTERM");
    expect(await sync).toMatchObject({ status: 503, body: { success: false, code: "shutting_down" } });
    expect(await blocking).toMatchObject({ status: 503, body: { code: "shutting_down" } });
    expect(await first.proc.exited).toBe(0);

    const second = await serve(env);
    const ids = [String(a.body.id), String(b.body.id)];
    const view = async (id: string) => readJson(await fetch(`${second.url}/runs/${id}`));
    await waitFor(async () => (await Promise.all(ids.map(view))).every((v) => v.status === "succeeded"), { what: "the queued runs to run after the restart", timeoutMs: 30_000 });
    // In arrival order: a started before b.
    const [va, vb] = await Promise.all(ids.map(view));
    expect(Date.parse(String(va?.started_at))).toBeLessThanOrEqual(Date.parse(String(vb?.started_at)));
    // The synchronous client retries with its key: the same run, which ran after the restart.
    const retry = await post(second.url, "/run", "ok", { "idempotency-key": key });
    expect(retry).toMatchObject({ status: 200, body: { success: true, output: "ok" } });
    expect(second.records().some((r) => r.msg === "runs interrupted by the previous server process")).toBe(false);
    expect(await second.stop("SIGTERM")).toBe(0);
  }, 90_000);
});

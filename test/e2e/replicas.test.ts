// Three server processes on one real Postgres behave as one server: any replica answers, one queue, events, cancel and death across them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { agentServerEnv, faultGate } from "../support/fake-opencode.ts";
import { readJson, type JsonObject } from "../support/http.ts";
import { startPostgres, type PgCluster } from "../support/postgres.ts";
import { processesMatching } from "../support/procs.ts";
import { SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { readEvents } from "../support/sse.ts";
import { waitFor } from "../support/wait.ts";

let pg: PgCluster;
const spawned: ServerProcess[] = [];
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  for (const s of spawned) await s.stop("SIGKILL");
  await pg?.stop();
});

const LEASE = "3s";

/** n replicas (r1…rn) of the server on a fresh database, started at once (they migrate it together). */
async function replicas(n: number, extra: Record<string, string> = {}): Promise<ServerProcess[]> {
  const url = await pg.createDatabase();
  const started = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      spawnServer(SOURCE_CMD, agentServerEnv({ DATABASE_URL: url, REPLICA_ID: `r${i + 1}`, MAX_CONCURRENT_RUNS: "1", LEASE_TIMEOUT: LEASE, SHUTDOWN_TIMEOUT: "2s", LOG_LEVEL: "info", ...extra })),
    ),
  );
  spawned.push(...started);
  return started;
}

const post = (base: string, path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "text/plain", ...headers }, body }).then(async (r) => ({ status: r.status, headers: r.headers, body: await readJson(r) }));
const view = async (s: ServerProcess, id: string) => readJson(await fetch(`${s.url}/runs/${id}`));
const health = async (s: ServerProcess) => readJson(await fetch(`${s.url}/health`));
const byName = (all: ServerProcess[], name: unknown) => all.find((_, i) => `r${i + 1}` === name) as ServerProcess;
const others = (all: ServerProcess[], name: unknown) => all.filter((_, i) => `r${i + 1}` !== name);

/** Every replica has one run in flight (its only slot busy); on a timeout, says what each one has. */
async function everySlotBusy(all: ServerProcess[]): Promise<void> {
  try {
    await waitFor(async () => (await Promise.all(all.map(health))).every((h) => h.runs_in_flight === 1), { what: "every slot busy" });
  } catch (err) {
    const healths = await Promise.all(all.map(health));
    const runs = await readJson(await fetch(`${all[0]!.url}/runs`));
    const logs = all.map((s) => s.records().filter((r) => r.level === "error" || r.level === "warn").map((r) => r.msg));
    throw new Error(`${String(err)}: ${JSON.stringify({ in_flight: healths.map((h) => h.runs_in_flight), runs: (runs.runs as JsonObject[]).map((r) => [r.status, r.replica]), logs })}`);
  }
}

async function untilStatus(s: ServerProcess, id: string, status: string, timeoutMs = 30_000): Promise<JsonObject> {
  return waitFor(async () => {
    const v = await view(s, id);
    return v.status === status ? v : undefined;
  }, { what: `run ${id} to be ${status}`, timeoutMs });
}

describe("three replicas on one Postgres", () => {
  test("any replica answers for any run: views, lists, events and metrics agree; the view and the log name the replica that ran it", async () => {
    const all = await replicas(3);
    const created = await post(all[0]!.url, "/runs", "ok");
    expect(created.status).toBe(202);
    const id = String(created.body.id);
    const done = await untilStatus(all[2]!, id, "succeeded");
    for (const s of all) expect(await view(s, id)).toEqual(done);
    expect(["r1", "r2", "r3"]).toContain(String(done.replica));
    for (const s of all) {
      const list = await readJson(await fetch(`${s.url}/runs`));
      expect((list.runs as JsonObject[]).map((r) => r.id)).toEqual([id]);
      const events = await readEvents(await fetch(`${s.url}/runs/${id}/events`));
      expect(events.map((e) => e.data.type)).toEqual(["status", "status", "text", "usage", "status", "result"]);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toContain("opencode_server_queue_depth 0");
      expect(await health(s)).toMatchObject({ status: "healthy", store: "ok", store_kind: "postgres" });
    }
    const runner = byName(all, done.replica);
    await runner.waitForLog((r) => r.msg === "run started" && r.run_id === id && r.replica === done.replica, "the run's start, with its replica");
  }, 60_000);

  test("one queue: runs wait in arrival order, MAX_QUEUED_RUNS and its 429 are global, an Idempotency-Key names one run on every replica", async () => {
    const all = await replicas(3, { MAX_QUEUED_RUNS: "2" });
    const gates = all.map(() => faultGate());
    // One at a time: with Postgres every run is queued until a replica claims it, so three at once would
    // briefly be three queued runs against MAX_QUEUED_RUNS=2.
    const blockers: Awaited<ReturnType<typeof post>>[] = [];
    for (const [i, g] of gates.entries()) {
      const b = await post(all[i]!.url, "/runs", `after ${g.path} ok`);
      expect(b.status).toBe(202);
      await untilStatus(all[i]!, String(b.body.id), "running");
      blockers.push(b);
    }
    await everySlotBusy(all);
    // The same key sent to the three at once: one run.
    const key = `replicas-${process.pid}`;
    const same = await Promise.all(all.map((s) => post(s.url, "/runs", "ok", { "idempotency-key": key })));
    expect(new Set(same.map((r) => r.body.id)).size).toBe(1);
    expect(same.map((r) => r.status)).toEqual([202, 202, 202]);
    expect(same.filter((r) => r.headers.get("idempotent-replayed") === "true").length).toBe(2);
    const second = await post(all[1]!.url, "/runs", "ok");
    expect(second.status).toBe(202);
    const refused = await post(all[2]!.url, "/runs", "ok");
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ success: false, code: "rate_limited" });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // Each replica's count is at most a second old.
    for (const s of all) await waitFor(async () => (await health(s)).runs_queued === 2, { what: "every replica to count the two queued runs" });
    // One slot frees: its replica takes the queued runs one after the other, oldest first. (Freeing all at
    // once would let two replicas claim together, and each stamps started_at before its claim commits.)
    await gates[0]!.fire();
    const first = await untilStatus(all[0]!, String(same[0]!.body.id), "succeeded");
    const next = await untilStatus(all[0]!, String(second.body.id), "succeeded");
    const freed = (await untilStatus(all[0]!, String(blockers[0]!.body.id), "succeeded")).replica;
    expect([first.replica, next.replica]).toEqual([freed, freed]);
    expect(Date.parse(String(first.started_at))).toBeLessThanOrEqual(Date.parse(String(next.started_at)));
    for (const g of gates.slice(1)) await g.fire();
    for (const b of blockers) await untilStatus(all[0]!, String(b.body.id), "succeeded");
  }, 60_000);

  test("a client on another replica follows a run live, replays with Last-Event-ID, and a synchronous POST /run waits for a run another replica executes", async () => {
    const all = await replicas(3);
    const gate = faultGate();
    const id = String((await post(all[0]!.url, "/runs", `after ${gate.path} ok`)).body.id);
    const running = await untilStatus(all[0]!, id, "running");
    const follower = others(all, running.replica)[0] as ServerProcess;
    // Live: the "armed" text arrives on the follower while the run is still waiting at its gate.
    const stream = await fetch(`${follower.url}/runs/${id}/events`);
    let fired = false;
    const events = await readEvents(stream, (e) => {
      if (e.data.type === "text" && !fired) {
        fired = true;
        void gate.fire();
      }
      return false;
    });
    expect(fired).toBe(true);
    expect(events.map((e) => e.data.type)).toEqual(["status", "status", "text", "text", "usage", "status", "result"]);
    expect(events.map((e) => Number(e.id))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const replay = await readEvents(await fetch(`${others(all, running.replica)[1]!.url}/runs/${id}/events`, { headers: { "last-event-id": "4" } }));
    expect(replay.map((e) => Number(e.id))).toEqual([5, 6, 7]);

    // The synchronous door on a replica whose only slot is busy: another replica runs it, this one answers.
    const busyGate = faultGate();
    const busyId = String((await post(all[1]!.url, "/runs", `after ${busyGate.path} ok`)).body.id);
    const busy = byName(all, (await untilStatus(all[1]!, busyId, "running")).replica);
    const answer = await post(busy.url, "/run", "ok");
    expect(answer).toMatchObject({ status: 200, body: { success: true, output: "ok" } });
    const ran = await view(busy, String(answer.body.run_id));
    expect(ran.replica).not.toBe((await view(busy, busyId)).replica);
    await busyGate.fire();
    await untilStatus(busy, busyId, "succeeded");
  }, 60_000);

  test("DELETE on one replica stops a run on another and answers once its processes are gone", async () => {
    const all = await replicas(3);
    const marker = String(40_000 + (process.pid % 10_000));
    const id = String((await post(all[0]!.url, "/runs", `hang ${marker}`)).body.id);
    const running = await untilStatus(all[0]!, id, "running");
    await waitFor(() => processesMatching(`sleep ${marker}`).length > 0, { what: "the agent's child process" });
    const elsewhere = others(all, running.replica)[0] as ServerProcess;
    const res = await fetch(`${elsewhere.url}/runs/${id}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(await readJson(res)).toMatchObject({ id, status: "cancelled", code: "cancelled", replica: running.replica });
    expect(processesMatching(`sleep ${marker}`)).toEqual([]);
  }, 60_000);

  test("a replica killed with -9: its running run is interrupted once its lease expires, its queued runs run elsewhere; SIGTERM on another leaves the queue to the rest", async () => {
    const all = await replicas(3);
    const gates = all.map(() => faultGate());
    const held = await Promise.all(gates.map((g, i) => post(all[i]!.url, "/runs", `after ${g.path} ok`)));
    await everySlotBusy(all);
    const queued = [await post(all[0]!.url, "/runs", "ok"), await post(all[0]!.url, "/runs", "ok")].map((r) => String(r.body.id));
    const views = await Promise.all(held.map((h) => view(all[0]!, String(h.body.id))));
    // Which run (and gate) is on which replica: whichever replica had a free slot claimed it.
    const on = (s: ServerProcess) => views.findIndex((v) => v.replica === `r${all.indexOf(s) + 1}`);
    const victim = byName(all, views[0]!.replica);
    const [survivor, leaving] = others(all, views[0]!.replica) as [ServerProcess, ServerProcess];
    const killedAt = performance.now();
    victim.proc.kill("SIGKILL");
    await victim.proc.exited;
    const interrupted = await untilStatus(survivor, String(held[0]!.body.id), "interrupted", 20_000);
    const afterMs = performance.now() - killedAt;
    console.log(`[replicas] kill -9 → its run interrupted by another replica after ${(afterMs / 1000).toFixed(1)} s (LEASE_TIMEOUT=${LEASE})`);
    expect(interrupted).toMatchObject({ code: "interrupted", error: expect.stringContaining("stopped renewing its lease") });
    // A rolling deploy: one survivor drains (its gated run is stopped at SHUTDOWN_TIMEOUT), the last one runs the queue.
    const leavingRun = String(held[on(leaving)]!.body.id);
    leaving.proc.kill("SIGTERM");
    expect(await leaving.proc.exited).toBe(0);
    expect((await view(survivor, leavingRun)).status).not.toBe("running");
    // Only the survivor's agent still reads its gate (firing a gate nobody reads would block).
    await gates[on(survivor)]!.fire();
    for (const id of queued) await untilStatus(survivor, id, "succeeded");
  }, 90_000);

  test("Postgres restarted mid-run: the run finishes, its events reach the store when it is back, a follower on another replica catches up", async () => {
    const all = await replicas(2);
    const gate = faultGate();
    const id = String((await post(all[0]!.url, "/runs", `after ${gate.path} flood 20000`)).body.id);
    const running = await untilStatus(all[0]!, id, "running");
    const follower = others(all, running.replica)[0] as ServerProcess;
    const followed = readEvents(await fetch(`${follower.url}/runs/${id}/events`));
    await pg.halt();
    await gate.fire();
    const runner = byName(all, running.replica);
    await waitFor(async () => (await health(runner)).store === "unwritable", { what: "the runner to see the store down" });
    await pg.start();
    const events = await followed;
    expect(events.at(-1)?.data).toMatchObject({ type: "result", status: "succeeded" });
    const seqs = events.map((e) => Number(e.id));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    await waitFor(async () => (await health(runner)).status === "healthy", { what: "the runner healthy again", timeoutMs: 20_000 });
    expect((await view(follower, id)).status).toBe("succeeded");
  }, 90_000);
});

test("Postgres unreachable at start-up: the server waits DATABASE_CONNECT_TIMEOUT, then exits 1 naming the host, never the password", async () => {
  const env = agentServerEnv({ DATABASE_URL: "postgres://app:s3cret-pass@127.0.0.1:1/none", DATABASE_CONNECT_TIMEOUT: "2s" });
  const at = performance.now();
  const proc = Bun.spawn(SOURCE_CMD, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  expect(await proc.exited).toBe(1);
  const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
  const seconds = (performance.now() - at) / 1000;
  console.log(`[replicas] unreachable Postgres: exit 1 after ${seconds.toFixed(1)} s (DATABASE_CONNECT_TIMEOUT=2s)`);
  expect(out).toContain("127.0.0.1:1");
  expect(out).not.toContain("s3cret-pass");
}, 30_000);

// A store that fails at any call: the failing run ends (or is refused), its slot frees, the server keeps serving and recovers.
import { NO_LIMITS } from "../../src/runs/model.ts";
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import path from "node:path";
import { newRecord } from "../../src/runs/admission.ts";
import type { RunStore } from "../../src/runs/store.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { WORKSPACE_PREFIX } from "../../src/runs/workspace.ts";
import { testApp, text, type TestApp } from "../support/app.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { gate } from "../support/gate.ts";
import { readJson } from "../support/http.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

type Method = Exclude<keyof RunStore, "location" | "kind" | "shared">;

/** The real SQLite store, with one method made to fail (like SQLITE_FULL) from its nth call on, until healed. */
class FaultyStore {
  readonly store: RunStore;
  private failing: { method: Method; from: number; calls: number; when: (args: unknown[]) => boolean } | null = null;
  /** How often the failing method threw: a case that never reached its call proves nothing. */
  thrown = 0;

  constructor() {
    const real = new SqliteRunStore(path.join(tempDir("ocs-faulty-"), "runs.db"));
    this.store = new Proxy(real, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const f = this.failing;
          if (f && f.method === prop && f.when(args) && ++f.calls >= f.from) {
            this.thrown++;
            return Promise.reject(Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" }));
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  /** `when`: only calls whose arguments match fail (a write too big for the disk). */
  fail(method: Method, from = 1, when: (args: unknown[]) => boolean = () => true): void {
    this.failing = { method, from, calls: 0, when };
  }

  heal(): void {
    this.failing = null;
  }
}

/**
 * Every store call the run path makes, each as the nth call that fails. `queued`: the run under test waits
 * behind another (MAX_CONCURRENT_RUNS=1), so it is queued and claimed; otherwise it starts at once.
 */
const CASES: { method: Method; from: number; queued: boolean; what: string }[] = [
  { method: "insertRunning", from: 1, queued: false, what: "storing a run that starts at once" },
  { method: "enqueue", from: 1, queued: true, what: "queueing the run" },
  { method: "queuedCount", from: 1, queued: true, what: "counting the queue" },
  { method: "claim", from: 1, queued: true, what: "starting it from the queue" },
  { method: "byIdempotencyKey", from: 1, queued: false, what: "looking up its Idempotency-Key" },
  { method: "appendEvents", from: 1, queued: false, what: "recording an agent event (it waits in memory)" },
  { method: "finish", from: 1, queued: false, what: "recording its end" },
  { method: "finish", from: 2, queued: true, what: "recording the end of a queued run" },
  { method: "get", from: 1, queued: true, what: "reading it while waiting for it" },
];

async function healthOf(t: TestApp) {
  return readJson(await t.request("/health"));
}

describe("fault injection at every store call", () => {
  for (const c of CASES) {
    test(`${c.method} failing (${c.what}): the client gets an answer, the server keeps serving, the slot is free, and it recovers`, async () => {
      const faulty = new FaultyStore();
      const blocked = gate();
      const runner = new FakeRunner(async (input) => {
        if (input.prompt === "blocker") await blocked.promise;
        input.onEvent({ type: "text", text: "working" });
        // A short run's events are stored with its end: this one runs until its event's own write was tried.
        if (c.method === "appendEvents" && input.prompt === "go") await waitFor(() => faulty.thrown > 0, { what: "the event's write to fail" });
        return { output: "done" };
      });
      const t = testApp({ store: faulty.store, runner, maxConcurrent: 1 });
      const blocker = c.queued ? t.request("/run", text("blocker")) : null;
      if (blocker) await runner.waitForCalls(1);
      faulty.fail(c.method, c.from);
      const answer = t.request("/run", text("go", { "idempotency-key": `fault-${c.method}-${c.from}` }));
      if (c.queued) await waitFor(() => faulty.thrown > 0 || t.runs.queued > 0, { what: "the run to be queued (or refused)" });
      blocked.open();
      const res = await answer;
      const body = await readJson(res);
      // A run's end is written after its answer (this server's own store): its failure may come after it.
      await waitFor(() => faulty.thrown > 0, { what: `the ${c.method} call to fail` });
      // Whatever failed, an answer: refused before it started (503 store_unavailable), or ended as internal (500), or — when
      // only a read failed on the way — the run went through.
      expect([200, 500, 503]).toContain(res.status);
      if (res.status !== 200) expect(["store_unavailable", "internal"]).toContain(String(body.code));
      if (res.status === 500) expect(String(body.error)).toMatch(/store|Internal/);
      if (blocker) expect((await blocker).status).toBe(200);
      faulty.heal();
      // The slot is free again (MAX_CONCURRENT_RUNS=1) and the store works: the next run goes through.
      await waitFor(() => t.runs.inFlight === 0, { what: "the slot to be free" });
      const next = await t.request("/run", text("again"));
      expect(await readJson(next)).toMatchObject({ success: true, output: "done" });
      expect(next.status).toBe(200);
      await waitFor(async () => (await healthOf(t)).status === "healthy", { what: "health to recover", timeoutMs: 10_000 });
      await t.close();
    });
  }

  test("claim failing twice for a run an earlier process queued: it stays queued after the first, ends as internal after the second; the next one runs", async () => {
    const faulty = new FaultyStore();
    // Queued by "the previous process": its events' numbers are only in the store.
    const request = { prompt: "left in the queue", model: null, agent: null, repository: null };
    const record = newRecord(request, { requestId: "earlier", idempotencyKey: null, fingerprint: "f", model: null, now: Date.now(), limits: NO_LIMITS, thread: { asked: NO_LIMITS }, webhooks: [] });
    await faulty.store.enqueue(record, request, null, [{ run_id: record.id, seq: 1, time: new Date().toISOString(), type: "status", status: "queued" }], 100);
    faulty.fail("claim");
    const t = testApp({ store: faulty.store });
    // One failed start is a fault of the store, retried once it works; the second in a row ends the run.
    await waitFor(() => faulty.thrown === 1, { what: "the claim to try it" });
    expect((await readJson(await t.request(`/runs/${record.id}`))).status).toBe("queued");
    await waitFor(async () => (await readJson(await t.request(`/runs/${record.id}`))).status === "failed", { what: "its end to be written", timeoutMs: 10_000 });
    expect(faulty.thrown).toBe(2);
    faulty.heal();
    const view = await readJson(await t.request(`/runs/${record.id}`));
    expect(view).toMatchObject({ status: "failed", code: "internal", error: expect.stringContaining("The run store failed while starting the run: ") });
    // Its events are numbered on from the store's: nothing lost, nothing twice.
    const events = await (await t.request(`/runs/${record.id}/events`)).text();
    expect([...events.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([1, 2, 3]);
    expect((await t.request("/run", text("next"))).status).toBe(200);
    await t.close();
  });

  test("reads that fail (events, list, queue position) answer 503 store_unavailable or leave the field out; the server keeps serving", async () => {
    const faulty = new FaultyStore();
    const t = testApp({ store: faulty.store });
    const done = await readJson(await t.request("/run", text("x")));
    const id = String(done.run_id);
    faulty.fail("events");
    const events = await t.request(`/runs/${id}/events`);
    expect(events.status).toBe(503);
    expect(await readJson(events)).toMatchObject({ success: false, code: "store_unavailable" });
    faulty.fail("list");
    const list = await t.request("/runs");
    expect(list.status).toBe(503);
    expect(await readJson(list)).toMatchObject({ success: false, code: "store_unavailable" });
    faulty.fail("queuePosition");
    const created = await t.request("/runs", text("y"));
    expect(created.status).toBe(202);
    expect(await readJson(created)).toMatchObject({ queue_position: null });
    expect(faulty.thrown).toBe(3);
    faulty.heal();
    expect((await t.request("/health")).status).toBe(200);
    await t.close();
  });

  test("while the store cannot be written, new runs get 503 store_unavailable and /health says degraded; then both recover by themselves", async () => {
    const faulty = new FaultyStore();
    const t = testApp({ store: faulty.store });
    faulty.fail("insertRunning");
    const refused = await t.request("/runs", text("x"));
    expect(refused.status).toBe(503);
    expect(await readJson(refused)).toMatchObject({ success: false, code: "store_unavailable" });
    const health = await t.request("/health");
    expect(health.status).toBe(503);
    expect(await readJson(health)).toMatchObject({ status: "degraded", store: "unwritable", store_error: expect.stringContaining("database or disk is full") });
    faulty.heal();
    // No request needed: the probe finds the store writable again.
    await waitFor(async () => (await healthOf(t)).status === "healthy", { what: "the probe to see the store back", timeoutMs: 10_000 });
    expect((await t.request("/runs", text("x"))).status).toBe(202);
    await t.close();
  });

  test("events the store cannot take wait in memory: the run goes on, and once the store is back every event is stored, in order", async () => {
    const faulty = new FaultyStore();
    const held = gate();
    const runner = new FakeRunner(async (input) => {
      input.onEvent({ type: "text", text: "one" });
      await held.promise;
      input.onEvent({ type: "text", text: "two" });
      return { output: "done" };
    });
    const t = testApp({ store: faulty.store, runner });
    faulty.fail("appendEvents");
    const res = t.request("/run", text("x"));
    await waitFor(() => faulty.thrown > 0, { what: "an event write to fail" });
    held.open();
    const answer = await readJson(await res);
    expect(answer).toMatchObject({ success: true, output: "done" });
    faulty.heal();
    const id = String(answer.run_id);
    await waitFor(async () => (await healthOf(t)).status === "healthy", { what: "the probe to flush the events", timeoutMs: 10_000 });
    const events = await t.store.events(id, 0);
    expect(events.map((e) => [e.seq, e.type === "text" ? e.text : e.type === "status" ? e.status : e.type])).toEqual([
      [1, "queued"], [2, "running"], [3, "one"], [4, "two"], [5, "succeeded"], [6, "result"],
    ]);
    await t.close();
  });

  test("past MAX_BUFFERED_BYTES of events waiting for the store, the run ends as internal, saying why; the server goes on", async () => {
    const faulty = new FaultyStore();
    const chunk = "x".repeat(1024 * 1024);
    let flooding = true;
    const runner = new FakeRunner(async (input) => {
      input.onEvent({ type: "text", text: "first" });
      // Once a write has failed, what waits is bounded: the flood comes after the fault.
      if (flooding) await waitFor(() => faulty.thrown > 0, { what: "the first write to fail" });
      for (let i = 0; i < 24 && !input.signal.aborted; i++) input.onEvent({ type: "text", text: chunk });
      return { output: "done" };
    });
    const t = testApp({ store: faulty.store, runner });
    faulty.fail("appendEvents");
    const res = await t.request("/run", text("x"));
    expect(res.status).toBe(500);
    expect(await readJson(res)).toMatchObject({ success: false, code: "internal", error: expect.stringContaining("the run's events outgrew the memory kept for them (16 MiB)") });
    faulty.heal();
    flooding = false;
    await waitFor(async () => (await healthOf(t)).status === "healthy", { what: "the store back", timeoutMs: 10_000 });
    // With the store working, the same 24 MiB burst is simply written.
    expect((await t.request("/run", text("again"))).status).toBe(200);
    await t.close();
  });

  test("held events that can never be written (the store works, they do not fit) are dropped after a second try; the run's end is stored without them", async () => {
    const faulty = new FaultyStore();
    const held = gate();
    const runner = new FakeRunner(async (input) => {
      input.onEvent({ type: "text", text: "held" });
      await held.promise;
      return { output: "done" };
    });
    const t = testApp({ store: faulty.store, runner });
    faulty.fail("appendEvents");
    const res = t.request("/run", text("x"));
    await waitFor(() => faulty.thrown > 0, { what: "the event write to fail" });
    // From now on only writes carrying the held text event fail: everything else (the probe, a bare end) works.
    const carriesHeld = (args: unknown[]) => JSON.stringify(args).includes('"text":"held"');
    faulty.fail("finish", 1, carriesHeld);
    held.open();
    const answer = await readJson(await res);
    expect(answer).toMatchObject({ success: true, output: "done" });
    const id = String(answer.run_id);
    await waitFor(async () => (await readJson(await t.request(`/runs/${id}`))).status === "succeeded", { what: "the end without the held event", timeoutMs: 15_000 });
    const events = await t.store.events(id, 0);
    expect(events.map((e) => [e.seq, e.type])).toEqual([[1, "status"], [2, "status"], [4, "status"], [5, "result"]]);
    expect(t.logs.some((l) => l.includes("a run's held events could not be stored and were dropped"))).toBe(true);
    await waitFor(async () => (await healthOf(t)).status === "healthy", { what: "health back", timeoutMs: 10_000 });
    await t.close();
  });

  test("a run whose start cannot be stored (it starts while that is written): 503, its agent never got the prompt, nothing of it is left", async () => {
    const faulty = new FaultyStore();
    const runner = new FakeRunner(() => ({ output: "done" }));
    const t = testApp({ store: faulty.store, runner });
    faulty.fail("insertRunning");
    for (const door of ["/run", "/runs"]) {
      const res = await t.request(door, text("do not act on me"));
      expect([res.status, (await readJson(res)).code]).toEqual([503, "store_unavailable"]);
    }
    expect(await t.runs.waitIdle(10_000)).toBe(true);
    expect(runner.calls).toEqual([]);
    expect(readdirSync(t.workDir).filter((e) => e.startsWith(WORKSPACE_PREFIX))).toEqual([]);
    expect(t.logs.filter((l) => l.includes('"msg":"run finished"') || l.includes('"msg":"run pipeline threw"'))).toEqual([]);
    faulty.heal();
    expect(await readJson(await t.request("/runs"))).toMatchObject({ runs: [] });
    const next = await t.request("/run", text("again"));
    expect([next.status, (await readJson(next)).output]).toEqual([200, "done"]);
    await t.close();
  });

  test("a run whose end could not be recorded is answered anyway, and recorded once the store is back", async () => {
    const faulty = new FaultyStore();
    const t = testApp({ store: faulty.store });
    faulty.fail("finish");
    const res = await t.request("/run", text("x", { "idempotency-key": "unrecorded-end" }));
    const answer = await readJson(res);
    expect(answer).toMatchObject({ success: true });
    const runId = String(answer.run_id);
    expect((await readJson(await t.request(`/runs/${runId}`))).status).toBe("running");
    // A retry with the same Idempotency-Key before the store is back gets the answer at once, not a wait forever.
    const retry = await t.request("/run", text("x", { "idempotency-key": "unrecorded-end" }));
    expect(retry.status).toBe(200);
    expect(await readJson(retry)).toMatchObject({ success: true, run_id: runId });
    faulty.heal();
    await waitFor(async () => (await readJson(await t.request(`/runs/${runId}`))).status === "succeeded", { what: "the end to be written", timeoutMs: 10_000 });
    await t.close();
  });
});

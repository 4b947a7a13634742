// A run's answer goes out before its end is written (this server's own store), and nothing a client reads after it misses the end.
import { describe, expect, test } from "bun:test";
import path from "node:path";
import type { RunStore } from "../../src/runs/store.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { testApp, text } from "../support/app.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { gate } from "../support/gate.ts";
import { readJson } from "../support/http.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

/** The real SQLite store, `before` called (and awaited) ahead of every `finish`. */
function withFinishHook(before: () => Promise<void> | void): RunStore {
  const real = new SqliteRunStore(path.join(tempDir("ocs-hooked-"), "runs.db"));
  return new Proxy(real, {
    get: (target, prop, receiver) => {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function") return value;
      if (prop !== "finish") return value.bind(target);
      return async (...args: unknown[]) => {
        await before();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as RunStore;
}

/** The real SQLite store whose first `finish` waits until the test lets it go. */
function heldFinish() {
  const release = gate();
  let entered = 0;
  const store = withFinishHook(async () => {
    if (++entered === 1) await release.promise;
  });
  return { store, release, entered: () => entered };
}

describe("the answer first, the end's write after it", () => {
  test("POST /run answers while its end's write waits; a read, a retry, a cancel and a scrape after the answer see the finished run; the end line and idle come with the write", async () => {
    const held = heldFinish();
    const t = testApp({ store: held.store, runner: new FakeRunner(() => ({ output: "done" })), maxConcurrent: 1 });
    const res = await t.request("/run", text("go", { "idempotency-key": "first-answer" }));
    expect(res.status).toBe(200);
    const answer = await readJson(res);
    expect(answer).toMatchObject({ success: true, output: "done" });
    const id = String(answer.run_id);
    await waitFor(() => held.entered() === 1, { what: "the end's write to begin" });

    // Asked while the write waits: the read is answered once it has landed, never with the run still running.
    const read = t.request(`/runs/${id}`).then(readJson);
    const retry = t.request("/run", text("go", { "idempotency-key": "first-answer" }));
    const cancel = t.request(`/runs/${id}/cancel`, { method: "POST" });
    // The slot is free already: /health says nothing runs, and another run starts at once.
    expect((await readJson(await t.request("/health"))).runs_in_flight).toBe(0);
    expect(await readJson(await t.request("/run", text("second")))).toMatchObject({ success: true, output: "done" });
    const retried = await retry;
    expect(retried.status).toBe(200);
    expect(await readJson(retried)).toEqual(answer);
    // Counted once written: a scrape now waits for it.
    const scrape = t.request("/metrics").then((r) => r.text());
    // The end is not written yet: no end line, and the server is not idle (shutdown waits for the write).
    expect(t.logs.filter((l) => l.includes('"msg":"run finished"') && l.includes(id))).toEqual([]);
    expect(await t.runs.waitIdle(0)).toBe(false);

    held.release.open();
    expect(await read).toMatchObject({ id, status: "succeeded", result: { success: true, output: "done" } });
    const cancelled = await cancel;
    expect(cancelled.status).toBe(409);
    expect(await readJson(cancelled)).toMatchObject({ code: "run_finished" });
    expect(await scrape).toContain('opencode_server_runs_total{status="succeeded",code="none"} 2');
    expect(await t.runs.waitIdle(10_000)).toBe(true);
    expect(t.logs.filter((l) => l.includes('"msg":"run finished"') && l.includes(id))).toHaveLength(1);
    await t.close();
  });
});

/** The real SQLite store, counting the ends written. */
function countedFinish() {
  let finished = 0;
  const store = withFinishHook(() => void finished++);
  return { store, finished: () => finished };
}

describe("the end waits a moment after the answer, unless it is needed", () => {
  // Ten minutes: only a read or a queued run can get the end written within the test's time.
  const LONG = 600_000;

  test("an end not yet written is written at once when runs are read", async () => {
    const counted = countedFinish();
    const t = testApp({ store: counted.store, runner: new FakeRunner(() => ({ output: "done" })), endDelayMs: LONG });
    const answer = await readJson(await t.request("/run", text("go")));
    expect(answer).toMatchObject({ success: true, output: "done" });
    expect(counted.finished()).toBe(0);
    expect(await t.runs.waitIdle(0)).toBe(false);
    expect(await readJson(await t.request(`/runs/${String(answer.run_id)}`))).toMatchObject({ id: answer.run_id, status: "succeeded", result: { success: true, output: "done" } });
    expect(counted.finished()).toBe(1);
    expect(await t.runs.waitIdle(10_000)).toBe(true);
    await t.close();
  });

  test("with a run queued behind it, an end does not wait: the queued run starts without anything read", async () => {
    const counted = countedFinish();
    const first = gate();
    const runner = new FakeRunner(async (input) => {
      if (input.prompt === "first") await first.promise;
      return { output: input.prompt };
    });
    const t = testApp({ store: counted.store, runner, maxConcurrent: 1, endDelayMs: LONG });
    expect((await t.request("/runs", text("first"))).status).toBe(202);
    await runner.waitForCalls(1);
    const queued = await readJson(await t.request("/runs", text("second")));
    expect(queued).toMatchObject({ status: "queued" });
    first.open();
    await waitFor(() => runner.calls.length === 2, { what: "the queued run to start", timeoutMs: 10_000 });
    expect(runner.calls.map((c) => c.prompt)).toEqual(["first", "second"]);
    expect(counted.finished()).toBeGreaterThanOrEqual(1);
    await t.close();
  });
});

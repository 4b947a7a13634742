// Runs as resources with a fake agent: lifecycle, events and reconnection, cancellation, the queue, idempotency, timeouts, metrics.
import { describe, expect, test } from "bun:test";
import type { AgentInput } from "../../src/opencode/types.ts";
import type { RunStopped } from "../../src/runs/abort.ts";
import { json, testApp, text, type TestApp } from "../support/app.ts";
import { FakeRunner, hangAfter } from "../support/fake-runner.ts";
import { gate } from "../support/gate.ts";
import { readJson, type JsonObject } from "../support/http.ts";
import { readEvents } from "../support/sse.ts";
import { waitFor } from "../support/wait.ts";

const UUID = expect.stringMatching(/^[0-9a-f-]{36}$/);
const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT/);

async function create(t: TestApp, prompt = "do it", headers: Record<string, string> = {}) {
  const res = await t.request("/runs", text(prompt, headers));
  return { res, body: await readJson(res) };
}

async function view(t: TestApp, id: string): Promise<JsonObject> {
  return readJson(await t.request(`/runs/${id}`));
}

async function finished(t: TestApp, id: string): Promise<JsonObject> {
  return waitFor(async () => {
    const v = await view(t, id);
    return v.finished_at ? v : null;
  }, { what: `run ${id} to finish` });
}

describe("lifecycle", () => {
  test("POST /runs → 202 with links; the run goes queued → running → succeeded; GET shows the /run answer", async () => {
    const release = gate();
    const t = testApp({
      runner: new FakeRunner(async (input) => {
        input.onEvent({ type: "text", text: "working" });
        await release.promise;
        return { output: "all done", sessionId: "ses_x" };
      }),
    });
    const { res, body } = await create(t, "Write tests");
    expect(res.status).toBe(202);
    const id = String(body.id);
    expect(body).toEqual({ id: UUID, status: "running", queue_position: null, links: { self: `/runs/${id}`, events: `/runs/${id}/events`, cancel: `/runs/${id}`, messages: `/runs/${id}/messages` } });
    expect(res.headers.get("location")).toBe(`/runs/${id}`);
    expect(await view(t, id)).toEqual({
      id,
      status: "running",
      request_id: res.headers.get("x-request-id"),
      created_at: ISO,
      started_at: ISO,
      finished_at: null,
      queue_position: null,
      replica: "test-replica",
      prompt_chars: 11,
      title: "Write tests",
      cost_usd: null,
      // The model the run uses: the server's default when the request named none.
      model: "fake/default",
      agent: null,
      repository: null,
      branch: null,
      base: null,
      push: null,
      code: null,
      error: null,
      parent_run_id: null,
      thread_id: id,
      owner: null,
      links: body.links,
      pull_request: null,
      webhooks: [],
      children: [],
      diff: false,
      forge_links: null,
      result: null,
    });
    release.open();
    const done = await finished(t, id);
    expect(done).toMatchObject({ status: "succeeded", code: null, error: null, finished_at: ISO });
    expect(done.result).toMatchObject({ success: true, output: "all done", run_id: id, session_id: "ses_x", request_id: res.headers.get("x-request-id") });
    const list = await readJson(await t.request("/runs"));
    expect((list.runs as JsonObject[]).map((r) => [r.id, r.status, r.title, r.cost_usd])).toEqual([[id, "succeeded", "Write tests", 0]]);
    expect(list.next_cursor).toBeNull();
  });

  test("an id that is not a run is a run that does not exist: 404 on every route, whatever its shape", async () => {
    const t = testApp();
    for (const id of ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "x".repeat(300), "a%20b"]) {
      for (const [method, path] of [["GET", `/runs/${id}`], ["DELETE", `/runs/${id}`], ["POST", `/runs/${id}/cancel`], ["GET", `/runs/${id}/events`], ["GET", `/runs/${id}/diff`]] as const) {
        const res = await t.request(path, { method });
        expect([method, path, res.status]).toEqual([method, path, 404]);
        expect(await readJson(res)).toEqual({ success: false, code: "not_found", error: expect.stringMatching(/^No run /), request_id: expect.any(String) });
      }
    }
  });

  test("GET /runs: newest first, status filter, cursor pagination", async () => {
    const t = testApp();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(String((await create(t, `p${i}`)).body.id));
    await Promise.all(ids.map((id) => finished(t, id)));
    const page1 = await readJson(await t.request("/runs?limit=2"));
    const page2 = await readJson(await t.request(`/runs?limit=2&cursor=${page1.next_cursor}`));
    const page3 = await readJson(await t.request(`/runs?limit=2&cursor=${page2.next_cursor}`));
    const seen = [page1, page2, page3].flatMap((p) => (p.runs as JsonObject[]).map((r) => r.id));
    expect(seen).toEqual([...ids].reverse());
    expect(page3.next_cursor).toBeNull();
    expect(((await readJson(await t.request("/runs?status=failed,cancelled"))).runs as unknown[]).length).toBe(0);
    expect((await t.request("/runs?status=bogus")).status).toBe(400);
    expect((await t.request("/runs?cursor=nonsense")).status).toBe(400);
    expect((await t.request("/runs?limit=1000")).status).toBe(400);
  });
});

describe("events (Server-Sent Events)", () => {
  test("a finished run replays every event with ids, ending with the result", async () => {
    const t = testApp({
      runner: new FakeRunner((input) => {
        input.onEvent({ type: "step", session_id: "s" });
        input.onEvent({ type: "text", text: "hello" });
        input.onEvent({ type: "tool", tool: "bash", status: "completed", title: "ls", error: null, denied: false, input: { command: "ls" }, output: "a", duration_ms: 12 });
        return { output: "hello" };
      }),
    });
    const id = String((await create(t)).body.id);
    await finished(t, id);
    const res = await t.request(`/runs/${id}/events`);
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const events = await readEvents(res);
    expect(events.map((e) => [e.id, e.event])).toEqual([
      ["1", "status"],
      ["2", "status"],
      ["3", "text"],
      ["4", "tool"],
      ["5", "status"],
      ["6", "result"],
    ]);
    expect(events.map((e) => (e.data.type === "status" ? e.data.status : e.data.type))).toEqual(["queued", "running", "text", "tool", "succeeded", "result"]);
    const result = events.at(-1)?.data;
    expect(result).toMatchObject({ type: "result", run_id: id, seq: 6, status: "succeeded", http_status: 200, answer: { success: true, output: "hello", run_id: id } });
  });

  test("a client reconnecting with Last-Event-ID gets exactly the events it missed", async () => {
    const steps = [gate(), gate(), gate()];
    const t = testApp({
      runner: new FakeRunner(async (input) => {
        for (const [i, step] of steps.entries()) {
          await step.promise;
          input.onEvent({ type: "text", text: `part ${i}` });
        }
        return { output: "part 0\npart 1\npart 2" };
      }),
    });
    const id = String((await create(t)).body.id);
    steps[0]?.open();
    // First connection: read until "part 0", then drop.
    const first = await readEvents(await t.request(`/runs/${id}/events`), (e) => e.data.type === "text");
    const lastSeen = first.at(-1)?.id as string;
    // Meanwhile the run goes on.
    steps[1]?.open();
    await waitFor(async () => (await t.store.events(id, 0)).length >= 4, { what: "part 1 stored" });
    const second = t.request(`/runs/${id}/events`, { headers: { "last-event-id": lastSeen } });
    steps[2]?.open();
    const rest = await readEvents(await second);
    const all = [...first, ...rest];
    expect(all.map((e) => Number(e.id))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(all.map((e) => (e.data.type === "text" ? e.data.text : e.data.type))).toEqual(["status", "status", "part 0", "part 1", "part 2", "status", "result"]);
    expect((await t.request(`/runs/${id}/events`, { headers: { "last-event-id": "x1" } })).status).toBe(400);
  });

  test("POST /run with Accept: text/event-stream streams the same events", async () => {
    const t = testApp({ runner: new FakeRunner((input) => (input.onEvent({ type: "text", text: "streamed" }), { output: "streamed" })) });
    const res = await t.request("/run", text("go", { accept: "text/event-stream" }));
    expect(res.status).toBe(200);
    const id = res.headers.get("x-run-id");
    expect(res.headers.get("location")).toBe(`/runs/${id}`);
    const events = await readEvents(res);
    expect(events.map((e) => e.event)).toEqual(["status", "status", "text", "status", "result"]);
    expect(events.every((e) => e.data.run_id === id)).toBe(true);
  });
});

describe("cancellation", () => {
  test("cancelling a running run stops the agent and answers once it has ended; nothing runs afterwards", async () => {
    const t = testApp({ runner: new FakeRunner(hangAfter({ type: "text", text: "half" })) });
    const id = String((await create(t)).body.id);
    await t.runner.waitForCalls(1);
    const res = await t.request(`/runs/${id}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body).toMatchObject({ id, status: "cancelled", code: "cancelled", error: "The run was cancelled" });
    expect(body.result).toMatchObject({ success: false, code: "cancelled", output: "half" });
    expect((t.runner.calls[0]?.signal.reason as RunStopped).code).toBe("cancelled");
    expect(t.runs.inFlight).toBe(0);
    const again = await t.request(`/runs/${id}/cancel`, { method: "POST" });
    expect(again.status).toBe(409);
    expect(await readJson(again)).toMatchObject({ code: "run_finished", status: "cancelled" });
  });

  test("cancelling a queued run drops it before it starts", async () => {
    const t = testApp({ maxConcurrent: 1, runner: new FakeRunner(hangAfter()) });
    const first = String((await create(t, "first")).body.id);
    await t.runner.waitForCalls(1);
    const second = await create(t, "second");
    expect(second.body).toMatchObject({ status: "queued", queue_position: 1 });
    const res = await t.request(`/runs/${second.body.id}/cancel`, { method: "POST" });
    expect(await readJson(res)).toMatchObject({ status: "cancelled", code: "cancelled", error: "The run was cancelled before it started", started_at: null });
    expect(t.runner.calls).toHaveLength(1);
    await t.request(`/runs/${first}`, { method: "DELETE" });
  });
});

describe("capacity", () => {
  test("MAX_CONCURRENT_RUNS run at once, the rest wait in order; beyond MAX_QUEUED_RUNS → 429 with Retry-After", async () => {
    const releases = [gate(), gate(), gate()];
    let call = 0;
    const t = testApp({ maxConcurrent: 2, maxQueued: 1, runner: new FakeRunner(async () => (await (releases[call++] as ReturnType<typeof gate>).promise, { output: "ok" })) });
    const a = await create(t, "a");
    const b = await create(t, "b");
    const c = await create(t, "c");
    expect([a.body.status, b.body.status, c.body.status]).toEqual(["running", "running", "queued"]);
    const d = await create(t, "d");
    expect(d.res.status).toBe(429);
    expect(Number(d.res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(d.body).toMatchObject({ success: false, code: "rate_limited", retry_after: Number(d.res.headers.get("retry-after")) });
    expect((await readJson(await t.request("/health"))).runs_queued).toBe(1);
    releases[0]?.open();
    await waitFor(async () => (await view(t, String(c.body.id))).status === "running", { what: "c to start" });
    releases[1]?.open();
    releases[2]?.open();
    await finished(t, String(c.body.id));
  });

  test("the synchronous /run waits in the same queue, and its timeout covers the wait and says so", async () => {
    // The first run holds the only slot past everyone's deadline (it ignores its own timeout).
    const hog = gate();
    const t = testApp({ maxConcurrent: 1, maxExecutionMs: 300, runner: new FakeRunner(async () => (await hog.promise, { output: "late" })) });
    const first = String((await create(t, "hog")).body.id);
    await t.runner.waitForCalls(1);
    const res = await t.request("/run", text("waiting"));
    expect(res.status).toBe(408);
    expect(await readJson(res)).toMatchObject({ code: "timeout", error: expect.stringMatching(/^Execution timeout: the run waited \d+ms in the queue and MAX_EXECUTION_TIME \(300ms\) passed before it could start$/) });
    expect(t.runner.calls).toHaveLength(1);
    hog.open();
    await finished(t, first);
  });

  test("IDLE_TIMEOUT stops a silent agent with idle_timeout; an agent that keeps reporting is left alone", async () => {
    const silent = testApp({ idleTimeoutMs: 100, runner: new FakeRunner(hangAfter()) });
    const res = await silent.request("/run", text("quiet"));
    expect(res.status).toBe(408);
    expect(await readJson(res)).toMatchObject({ code: "idle_timeout", error: "Idle timeout: no activity from the agent for IDLE_TIMEOUT (100ms)" });

    const chatty = testApp({
      idleTimeoutMs: 100,
      runner: new FakeRunner(async (input: AgentInput) => {
        for (let i = 0; i < 6; i++) {
          await Bun.sleep(50);
          input.onEvent({ type: "text", text: `tick ${i}` });
        }
        return { output: "ticked" };
      }),
    });
    expect((await chatty.request("/run", text("busy"))).status).toBe(200);
  });
});

describe("idempotency", () => {
  test("POST /runs with the same Idempotency-Key returns the same run; a different body with it → 422", async () => {
    const t = testApp();
    const first = await create(t, "once", { "idempotency-key": "key-1" });
    const retry = await create(t, "once", { "idempotency-key": "key-1" });
    expect(retry.res.status).toBe(202);
    expect(retry.res.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.body.id).toBe(first.body.id);
    expect(first.res.headers.get("idempotent-replayed")).toBeNull();
    const conflict = await create(t, "something else", { "idempotency-key": "key-1" });
    expect(conflict.res.status).toBe(422);
    expect(conflict.body.code).toBe("idempotency_conflict");
    expect((await create(t, "x", { "idempotency-key": "has space" })).res.status).toBe(400);
    await finished(t, String(first.body.id));
    expect(t.runner.calls).toHaveLength(1);
  });

  test("POST /run with the same Idempotency-Key answers the same run twice, running the agent once", async () => {
    const t = testApp({ runner: new FakeRunner(() => ({ output: "computed once" })) });
    const a = await readJson(await t.request("/run", json({ prompt: "p" }, { "idempotency-key": "sync-1" })));
    const b = await readJson(await t.request("/run", json({ prompt: "p" }, { "idempotency-key": "sync-1" })));
    expect(b).toEqual(a);
    expect(t.runner.calls).toHaveLength(1);
  });
});

describe("metrics", () => {
  test("GET /metrics needs the key unless public, and its values move as runs happen", async () => {
    const t = testApp({ apiKeys: ["metrics-key-0123456789"], runner: new FakeRunner(() => ({ output: "x", usage: { input_tokens: 7, output_tokens: 3, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0.25 } })) });
    expect((await t.request("/metrics")).status).toBe(401);
    const auth = { "x-api-key": "metrics-key-0123456789" };
    const before = await (await t.request("/metrics", { headers: auth })).text();
    expect(before).not.toContain('opencode_server_runs_total{status="succeeded"');
    await (await t.request("/run", text("go", auth))).text();
    await (await t.request("/runs/00000000-0000-4000-8000-000000000000", { headers: auth })).text();
    // Requests are counted once their answer has gone out.
    const scrape = async () => (await t.request("/metrics", { headers: auth })).text();
    const after = await waitFor(async () => {
      const m = await scrape();
      return m.includes('route="/runs/:id",status="404"') ? m : null;
    }, { what: "request metrics" });
    expect((await t.request("/metrics", { headers: auth })).headers.get("content-type")).toStartWith("text/plain");
    for (const line of [
      'opencode_server_runs_total{status="succeeded",code="none"} 1',
      'opencode_server_tokens_total{kind="input"} 7',
      'opencode_server_tokens_total{kind="output"} 3',
      "opencode_server_cost_usd_total 0.25",
      "opencode_server_queue_depth 0",
      "opencode_server_runs_in_flight 0",
      'opencode_server_run_duration_seconds_count{status="succeeded"} 1',
      'opencode_server_http_requests_total{method="POST",route="/run",status="200"} 1',
      'opencode_server_http_requests_total{method="GET",route="/runs/:id",status="404"} 1',
    ]) {
      expect(after).toContain(line);
    }
    expect(after).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect((await testApp({ apiKeys: ["k-0123456789abcdef"], metricsPublic: true }).request("/metrics")).status).toBe(200);
  });
});

describe("shutdown", () => {
  // Changed with the durable queue (issue 14): queued runs no longer end at shutdown, they wait for the next start.
  test("draining keeps queued runs queued (for the next server process) and refuses new ones", async () => {
    const t = testApp({ maxConcurrent: 1, runner: new FakeRunner(hangAfter()) });
    const running = String((await create(t, "a")).body.id);
    const queued = String((await create(t, "b")).body.id);
    t.runs.beginDrain();
    expect(await view(t, queued)).toMatchObject({ status: "queued", code: null, queue_position: 1 });
    expect((await create(t, "c")).res.status).toBe(503);
    await t.request(`/runs/${running}`, { method: "DELETE" });
    // The slot is free, but a draining server starts nothing.
    expect(await view(t, queued)).toMatchObject({ status: "queued" });
  });
});

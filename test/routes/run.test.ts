// POST /run through the real app with a fake runner: every status code the seed lists, and what reaches the runner.
import { readJson } from "../support/http.ts";
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { emptyUsage } from "../../src/opencode/types.ts";
import { RunStopped } from "../../src/runs/abort.ts";
import { json, testApp, text } from "../support/app.ts";
import { FakeRunner, hangAfter } from "../support/fake-runner.ts";
import { waitFor, settledDir } from "../support/wait.ts";

const DURATION = expect.stringMatching(/^\d+(\.\d+)?(µs|ms|s)$|^\d+m[\d.]+s$/);
const UUID = expect.stringMatching(/^[0-9a-f-]{36}$/);

describe("POST /run success", () => {
  test("text/plain prompt: the seed's fields plus usage, session and tools", async () => {
    const runner = new FakeRunner((input) => {
      input.onEvent({ type: "text", text: "hello" });
      return {
        output: "hello",
        usage: { ...emptyUsage(), input_tokens: 10, output_tokens: 2, cost: 0.5 },
        tools: [{ tool: "bash", status: "completed", title: "ls", error: null, denied: false }],
        sessionId: "ses_1",
      };
    });
    const t = testApp({ runner });
    const res = await t.request("/run", text("Write a function"));
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id");
    expect(await res.json()).toEqual({
      success: true,
      output: "hello",
      error: null,
      execution_time: DURATION,
      queue_time: DURATION,
      request_id: requestId,
      run_id: UUID,
      session_id: "ses_1",
      model: "fake/default",
      usage: { input_tokens: 10, output_tokens: 2, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0.5 },
      tools: [{ tool: "bash", status: "completed", title: "ls", error: null, denied: false }],
      egress: [],
      output_truncated: false,
      exit_code: 0,
    });
    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0]).toMatchObject({ prompt: "Write a function", model: "fake/default", agent: null });
  });

  test("JSON prompt with model and agent reaches the runner unchanged", async () => {
    const t = testApp();
    const res = await t.request("/run", json({ prompt: "  keep  spaces \n", model: "openrouter/anthropic/claude-sonnet-4", agent: "plan" }));
    expect(res.status).toBe(200);
    expect(t.runner.calls[0]).toMatchObject({ prompt: "  keep  spaces \n", model: "openrouter/anthropic/claude-sonnet-4", agent: "plan" });
    expect((await readJson(res)).model).toBe("openrouter/anthropic/claude-sonnet-4");
  });

  test("null model/agent mean defaults; curl -d's form content type is taken as text", async () => {
    const t = testApp();
    expect((await t.request("/run", json({ prompt: "p", model: null, agent: null }))).status).toBe(200);
    const form = await t.request("/run", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "a=b&c" });
    expect(form.status).toBe(200);
    expect(t.runner.calls.map((c) => [c.prompt, c.model, c.agent])).toEqual([
      ["p", "fake/default", null],
      ["a=b&c", "fake/default", null],
    ]);
  });

  test("each run gets its own working directory and TMPDIR, removed afterwards", async () => {
    const seen: string[] = [];
    const runner = new FakeRunner(async (input) => {
      seen.push(input.cwd, input.tmpDir);
      await Bun.write(`${input.cwd}/file.txt`, "x");
      return { output: "ok" };
    });
    const t = testApp({ runner });
    await t.request("/run", text("a"));
    await t.request("/run", text("b"));
    expect(new Set(seen).size).toBe(4);
    expect(await settledDir(t.workDir)).toEqual([]);
  });
});

describe("POST /run client errors", () => {
  const cases: [string, RequestInit, number, Record<string, unknown>][] = [
    ["empty body", text(""), 400, { code: "invalid_request", field: "prompt" }],
    ["whitespace prompt", text("  \n "), 400, { code: "invalid_request", field: "prompt", error: 'Invalid field "prompt": must not be empty' }],
    ["invalid JSON", { method: "POST", headers: { "content-type": "application/json" }, body: "{oops" }, 400, { code: "invalid_request" }],
    ["prompt of wrong type", json({ prompt: 5 }), 400, { code: "invalid_request", field: "prompt" }],
    ["missing prompt", json({ model: "a/b" }), 400, { code: "invalid_request", field: "prompt" }],
    ["JSON that is not an object", json(["prompt"]), 400, { code: "invalid_request" }],
    ["unknown field", json({ prompt: "p", repo: "x" }), 400, { code: "invalid_request", field: "repo" }],
    ["model without provider", json({ prompt: "p", model: "gpt" }), 400, { code: "invalid_request", field: "model" }],
    ["model that looks like a flag", json({ prompt: "p", model: "--help/x" }), 400, { code: "invalid_request", field: "model" }],
    ["agent with spaces", json({ prompt: "p", agent: "my agent" }), 400, { code: "invalid_request", field: "agent" }],
    ["invalid UTF-8", { method: "POST", headers: { "content-type": "text/plain" }, body: new Uint8Array([0xff, 0xfe, 0x41]) }, 400, { code: "invalid_request", error: "Request body is not valid UTF-8" }],
    ["multipart", { method: "POST", headers: { "content-type": "multipart/form-data; boundary=x" }, body: "--x--" }, 415, { code: "unsupported_media_type" }],
  ];
  for (const [name, init, status, fields] of cases) {
    test(`${name} → ${status}`, async () => {
      const t = testApp();
      const res = await t.request("/run", init);
      expect(res.status).toBe(status);
      const body = await readJson(res);
      expect(body).toMatchObject({ success: false, request_id: res.headers.get("x-request-id"), ...fields });
      expect(Object.keys(body).sort()).toEqual(["code", "error", "request_id", "success", ...(fields.field ? ["field"] : [])].sort());
      expect(typeof body.error).toBe("string");
      expect(t.runner.calls).toHaveLength(0);
    });
  }

  test("declared Content-Length over MAX_REQUEST_SIZE → 413 before reading", async () => {
    const t = testApp({ maxRequestBytes: 100 });
    const res = await t.request("/run", { method: "POST", headers: { "content-type": "text/plain", "content-length": "101" }, body: "x".repeat(101) });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      success: false,
      code: "payload_too_large",
      error: "Request too large: the body exceeds MAX_REQUEST_SIZE (100 bytes)",
      request_id: res.headers.get("x-request-id"),
    });
    expect(t.runner.calls).toHaveLength(0);
  });

  test("a streamed body growing past the limit → 413, and the rest is never read", async () => {
    const t = testApp({ maxRequestBytes: 1000 });
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        if (pulled > 1000) controller.close();
        else controller.enqueue(new Uint8Array(100).fill(65));
      },
    });
    const res = await t.request("/run", { method: "POST", headers: { "content-type": "text/plain" }, body });
    expect(res.status).toBe(413);
    expect((await readJson(res)).code).toBe("payload_too_large");
    expect(pulled).toBeLessThan(20);
    expect(t.runner.calls).toHaveLength(0);
  });

  test("exactly MAX_REQUEST_SIZE is accepted", async () => {
    const t = testApp({ maxRequestBytes: 100 });
    expect((await t.request("/run", text("y".repeat(100)))).status).toBe(200);
  });

  test("unknown routes answer the JSON error shape", async () => {
    const t = testApp();
    const res = await t.request("/nope");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ success: false, code: "not_found", error: "No route for GET /nope", request_id: res.headers.get("x-request-id") });
  });
});

describe("POST /run failures", () => {
  test("timeout → 408 with the output produced so far", async () => {
    const runner = new FakeRunner(hangAfter({ type: "text", text: "partial work" }));
    const t = testApp({ runner, maxExecutionMs: 50 });
    const res = await t.request("/run", text("slow"));
    expect(res.status).toBe(408);
    expect(await res.json()).toEqual({
      success: false,
      code: "timeout",
      error: "Execution timeout: the run exceeded MAX_EXECUTION_TIME (50ms)",
      output: "partial work",
      execution_time: DURATION,
      queue_time: DURATION,
      request_id: res.headers.get("x-request-id"),
      run_id: UUID,
      session_id: "ses_fake",
      model: "fake/default",
      usage: emptyUsage(),
      tools: [],
      egress: [],
      output_truncated: false,
      exit_code: null,
    });
  });

  test("every tool call refused by opencode's permissions → 403 permission_denied (not a success); some refused → 200 with each flagged", async () => {
    const refused = { tool: "bash", status: "error", title: null, error: "The user rejected permission to use this specific tool call.", denied: true };
    const done = { tool: "read", status: "completed", title: "a.txt", error: null, denied: false };
    const t = testApp({ runner: new FakeRunner(() => ({ output: "", tools: [refused, { ...refused, tool: "write" }] })) });
    const res = await t.request("/run", text("x"));
    expect(res.status).toBe(403);
    expect(await readJson(res)).toMatchObject({
      success: false,
      code: "permission_denied",
      error: "opencode's permissions refused every tool call the agent made (2; first: bash): The user rejected permission to use this specific tool call.",
      tools: [refused, { ...refused, tool: "write" }],
    });
    t.runner.setBehaviour(() => ({ output: "read it", tools: [refused, done] }));
    const partly = await t.request("/run", text("x"));
    expect(partly.status).toBe(200);
    expect(await readJson(partly)).toMatchObject({ success: true, tools: [refused, done] });
    t.runner.setBehaviour(() => ({ output: "nothing to do", tools: [] }));
    expect((await t.request("/run", text("x"))).status).toBe(200);
  });

  test("agent failure → 500 saying what went wrong", async () => {
    const t = testApp({ runner: new FakeRunner(() => ({ exitCode: 1, error: "APIError: Incorrect API key provided (HTTP 401)" })) });
    const res = await t.request("/run", text("x"));
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body).toMatchObject({ success: false, code: "agent_failed", error: "opencode failed: APIError: Incorrect API key provided (HTTP 401)", exit_code: 1 });
  });

  test("a runner that throws → 500 internal, logged, the server keeps serving", async () => {
    const t = testApp({ runner: new FakeRunner(() => Promise.reject(new Error("disk on fire"))) });
    const res = await t.request("/run", text("x"));
    expect(res.status).toBe(500);
    expect((await readJson(res)).code).toBe("internal");
    expect((await t.request("/health")).status).toBe(200);
  });

  test("client disconnect aborts the run with client_closed", async () => {
    const runner = new FakeRunner(hangAfter());
    const t = testApp({ runner });
    const client = new AbortController();
    const pending = t.request("/run", { ...text("x"), signal: client.signal }).catch(() => null);
    await runner.waitForCalls(1);
    client.abort();
    await pending;
    const signal = runner.calls[0]?.signal;
    expect(signal?.aborted).toBe(true);
    expect((signal?.reason as RunStopped).code).toBe("client_closed");
    expect(t.runs.inFlight).toBe(0);
  });

  test("draining: new runs → 503 shutting_down; runs stopped by shutdown → 503 with their output", async () => {
    const runner = new FakeRunner(hangAfter({ type: "text", text: "half" }));
    const t = testApp({ runner });
    const inFlight = t.request("/run", text("x"));
    await runner.waitForCalls(1);
    t.runs.beginDrain();
    const refused = await t.request("/run", text("y"));
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({
      success: false,
      code: "shutting_down",
      error: "The server is shutting down and accepts no new runs",
      request_id: refused.headers.get("x-request-id"),
    });
    t.runs.abortAll(new RunStopped("shutting_down", "stopped for shutdown"));
    const res = await inFlight;
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "shutting_down", error: "stopped for shutdown", output: "half" });
    expect(runner.calls).toHaveLength(1);
  });
});

describe("logging", () => {
  test("a run that starts at once writes one info line, its end; its queue, start and request lines are debug; the prompt is never logged", async () => {
    const t = testApp();
    const prompt = "top-secret-prompt-text";
    const res = await t.request("/run", text(prompt, { "x-request-id": "client-id-42" }));
    expect(res.headers.get("x-request-id")).toBe("client-id-42");
    // The request line and the run's end line are written after the response has gone out.
    await waitFor(() => t.logs.some((l) => l.includes('"msg":"request"')) && t.logs.some((l) => l.includes('"msg":"run finished"')), { what: "request and end log lines" });
    const records = t.logs.map((l) => JSON.parse(l));
    expect(t.logs.join("\n")).not.toContain(prompt);
    const queued = records.find((r) => r.msg === "run queued");
    const start = records.find((r) => r.msg === "run started");
    const end = records.find((r) => r.msg === "run finished");
    const request = records.find((r) => r.msg === "request");
    expect(queued).toMatchObject({ level: "debug", request_id: "client-id-42", prompt_chars: prompt.length, model: "fake/default", agent: null });
    expect(start).toMatchObject({ level: "debug", request_id: "client-id-42", waited_ms: expect.any(Number) });
    expect(end).toMatchObject({ level: "info", request_id: "client-id-42", status: "succeeded", exit_code: 0, code: null, model: "fake/default", waited_ms: expect.any(Number) });
    expect(typeof end.duration_ms).toBe("number");
    expect(request).toMatchObject({ level: "debug", request_id: "client-id-42", method: "POST", path: "/run", status: 200, client: "unknown" });
    expect(start.run_id).toBe(end.run_id);
    expect(queued.run_id).toBe(end.run_id);
    expect(records.filter((r) => r.request_id === "client-id-42" && r.level !== "debug").map((r) => r.msg)).toEqual(["run finished"]);
  });

  test("a run that waited in the queue says so at info, and its start; an asynchronous request keeps its request line", async () => {
    const gate = Promise.withResolvers<void>();
    const t = testApp({ maxConcurrent: 1, runner: new FakeRunner(async (input) => (input.prompt === "first" ? (await gate.promise, { output: "1" }) : { output: "2" })) });
    const first = t.request("/run", text("first"));
    await waitFor(() => t.runs.inFlight === 1, { what: "the first run running" });
    const second = await t.request("/runs", text("second", { "x-request-id": "queued-42" }));
    expect(second.status).toBe(202);
    gate.resolve();
    expect((await first).status).toBe(200);
    await waitFor(() => t.logs.some((l) => l.includes('"msg":"run finished"') && l.includes("queued-42")), { what: "the second run's end" });
    const lines = t.logs.map((l) => JSON.parse(l)).filter((r) => r.request_id === "queued-42" && r.level !== "debug");
    expect(lines.map((r) => r.msg)).toEqual(["run queued", "request", "run started", "run finished"]);
  });

  test("an output cut at MAX_OUTPUT_SIZE in the middle of a secret loses that part too; an uncut output ending in a secret's first word keeps it", async () => {
    const secret = "binary-token-0123456789";
    const cut = testApp({ secrets: [secret], runner: new FakeRunner(() => ({ output: `tool said ${secret.slice(0, 10)}`, outputTruncated: true })) });
    expect(await readJson(await cut.request("/run", text("x")))).toMatchObject({ success: true, output: "tool said [REDACTED]", output_truncated: true });
    const whole = testApp({ secrets: [secret], runner: new FakeRunner(() => ({ output: "tool said from-the-binary" })) });
    expect(await readJson(await whole.request("/run", text("x")))).toMatchObject({ success: true, output: "tool said from-the-binary", output_truncated: false });
  });

  test("an unsafe X-Request-ID is replaced by a generated one", async () => {
    const t = testApp();
    for (const bad of ["has space", "x".repeat(200), "-leading", "semi;colon"]) {
      const res = await t.request("/health", { headers: { "x-request-id": bad } });
      expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  test("secrets in runner output and errors are redacted in answers and logs", async () => {
    const secret = "sk-canary-0123456789";
    const t = testApp({ secrets: [secret], runner: new FakeRunner(() => ({ exitCode: 1, output: `key=${secret}`, error: `bad key ${secret}` })) });
    const res = await t.request("/run", text("x"));
    const body = JSON.stringify(await res.json());
    expect(body).not.toContain(secret);
    expect(body).toContain("[REDACTED]");
    expect(t.logs.join("\n")).not.toContain(secret);
  });
});

// Fuzzes POST /run and /runs over a real socket: hostile requests get documented 4xx JSON answers and start no agent and no git.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readdirSync, statSync } from "node:fs";
import fc from "fast-check";
import type { Server } from "bun";
import type { ErrorCode } from "../../src/errors.ts";
import { ERROR_STATUS } from "../../src/http/status.ts";
import { WWW_AUTHENTICATE } from "../../src/http/auth.ts";
import { createEdge } from "../../src/http/edge.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { testApp, type TestApp } from "../support/app.ts";
import { keysToml } from "../support/keys.ts";
import { loggingGit } from "../support/git-server.ts";
import { waitFor, settledDir } from "../support/wait.ts";
import { figure, scale } from "./support/figures.ts";
import { headerOf, rawExchange, type RawResponse } from "./support/fuzz-raw-http.ts";
import { rawCase } from "./support/fuzz-raw-requests.ts";
import {
  ALLOWED_PREFIX,
  CONFLICT_KEY,
  contentTypeSeen,
  expectationOf,
  fuzzRequest,
  KEY,
  MAX_BODY,
  OLD_KEY,
  SANE_REQUEST_ID,
  wireTrim,
  type FuzzRequest,
} from "./support/fuzz-requests.ts";

const SUITE = "fuzz";
const REQUESTS = scale(10_000, 50_000);
const RAW_REQUESTS = scale(500, 3_000);
const RAW_DEADLINE_MS = 5_000;
/** Far above any answer here (typically under 10 ms), far below what a quadratic path costs (12 s for a 60 KB nested body before it was fixed). */
const SLOW_MS = 3_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** README's Errors table: what a refused request may get from the app. */
const DOCUMENTED = new Set([400, 401, 403, 404, 413, 415, 422, 429]);
const CODE_OF: Record<number, ErrorCode> = {
  400: "invalid_request",
  401: "unauthorized",
  403: "repository_not_allowed",
  404: "not_found",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "idempotency_conflict",
  429: "rate_limited",
};
const AUTH_HELP = "Authentication required: send Authorization: Bearer <key>, Authorization: Api-Key <key> or X-API-Key: <key>";
/** What Bun itself answers, before the app runs, for headers past its 16 KiB limit (or more than ~200 of them). */
const BUN_HEADER_LIMIT = 431;
/**
 * Bun's own refusals of bytes it does not take for HTTP/1.x, answered before the app runs and not JSON:
 * 400 (framing, header syntax), 431 (headers past its limit) and 505 (another HTTP version, or a request
 * line it cannot split, e.g. bare LF line ends). An unknown method ("post") makes it close the connection.
 */
const BUN_REFUSALS = [400, BUN_HEADER_LIMIT, 505];

let t: TestApp;
let server: Server<unknown>;
let stub: Server<unknown>;
let spy: ReturnType<typeof loggingGit>;
let base: string;
/** Lines the edge logged at warn or above: every 5xx, and anything unhandled. */
const edgeAlarms: string[] = [];
/** Runs the fuzzer has legitimately started so far (the agent was called this often, and the store holds as many). */
let expectedCalls = 0;
let expectedRuns = 0;
let gitLogBaseline = 0;
let store: Database;

const gitLogSize = () => statSync(spy.log).size;
/** Runs accepted so far: the store records a run the moment it is submitted, before its agent starts. */
const runsStored = () => (store.query("SELECT count(*) AS n FROM runs").get() as { n: number }).n;

beforeAll(() => {
  spy = loggingGit();
  // The one allowed http:// host: a stand-in git host that knows no repository, for the probe check below.
  stub = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("repository not found", { status: 404 }) });
  t = testApp({
    // The rotated key comes from API_KEYS_FILE (admin): the auth cases hold with both sources in use.
    apiKeys: [KEY],
    keysFile: keysToml([{ name: "rotated", key: OLD_KEY, scopes: ["admin"] }]),
    maxRequestBytes: MAX_BODY,
    allowedRepos: [ALLOWED_PREFIX, `http://127.0.0.1:${stub.port}/allowed/`],
    gitBinary: spy.bin,
  });
  const logger = createLogger({ level: "warn", redactor: new Redactor([KEY, OLD_KEY]), sink: (line) => edgeAlarms.push(line) });
  const edge = createEdge(t.app, logger, (method, route, status, seconds) => t.metrics.httpRequest(method, route, status, seconds));
  t.metrics.beforeRender(edge.flush);
  // The options src/server.ts listens with: header abuse and framing go through Bun's real HTTP parser.
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    reusePort: false,
    development: false,
    maxRequestBodySize: MAX_BODY * 2 + 1024 * 1024,
    idleTimeout: 30,
    fetch: edge,
  });
  base = `http://127.0.0.1:${server.port}`;
  store = new Database(t.store.location, { readonly: true });
});

afterAll(async () => {
  await server?.stop(true);
  await stub?.stop(true);
  store?.close();
});

function expectErrorBody(body: unknown, status: number, requestId: string): void {
  const code = CODE_OF[status];
  if (!code) throw new Error(`status ${status} is not a documented refusal`);
  expect(ERROR_STATUS[code as ErrorCode]).toBe(status);
  const record = body as Record<string, unknown>;
  expect(Object.keys(record).every((k) => ["success", "code", "error", "request_id", "field", "retry_after"].includes(k))).toBe(true);
  const exact: Record<number, string> = { 401: AUTH_HELP, 413: `Request too large: the body exceeds MAX_REQUEST_SIZE (${MAX_BODY} bytes)` };
  expect(body).toEqual({
    success: false,
    code,
    error: exact[status] ?? expect.any(String),
    request_id: requestId,
    ...("field" in record ? { field: expect.any(String) } : {}),
    ...(status === 429 ? { retry_after: expect.any(Number) } : {}),
  });
}

function headersOf(r: FuzzRequest, fresh: () => string): Headers {
  const h = new Headers();
  for (const [name, value] of r.auth.headers) h.append(name, value);
  if (Array.isArray(r.contentType)) for (const v of r.contentType) h.append("content-type", v);
  else if (r.contentType !== null) h.append("content-type", r.contentType);
  if (r.requestId.value !== null) h.append("x-request-id", r.requestId.value);
  if (r.idempotency.kind === "fresh") h.append("idempotency-key", fresh());
  if (r.idempotency.kind === "invalid") h.append("idempotency-key", r.idempotency.value);
  if (r.idempotency.kind === "conflict") h.append("idempotency-key", CONFLICT_KEY);
  if (r.accept !== null) h.append("accept", r.accept);
  if (r.lastEventId !== null) h.append("last-event-id", r.lastEventId);
  for (const [name, value] of r.extra.headers) h.append(name, value);
  return h;
}

function bodyOf(r: FuzzRequest): Uint8Array | ReadableStream<Uint8Array> {
  if (!r.stream) return r.body.bytes;
  const bytes = r.body.bytes;
  // Two chunks, so the server's counting reader sees a body arrive in pieces with no Content-Length.
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const half = bytes.length >> 1;
      if (half > 0) controller.enqueue(bytes.subarray(0, half));
      if (bytes.length > half) controller.enqueue(bytes.subarray(half));
      controller.close();
    },
  });
}

/**
 * After a failed check the counters may be off by the failing request's run; fast-check then replays smaller
 * requests to shrink the failure, and each replay must start from the server's real state, not the stale count.
 */
let resync = false;

async function checked(check: () => Promise<void>): Promise<void> {
  if (resync) {
    await waitFor(() => t.runs.inFlight === 0 && t.runs.queued === 0, { what: "runs to finish before a replay" });
    expectedCalls = t.runner.calls.length;
    expectedRuns = runsStored();
    gitLogBaseline = gitLogSize();
    resync = false;
  }
  try {
    await check();
  } catch (error) {
    resync = true;
    throw error;
  }
}

/** Nothing started since the last accepted run: no run submitted, no agent call, no git process. */
function expectNothingStarted(what: string): void {
  expect(`${what}: runs ${runsStored()}, agent calls ${t.runner.calls.length}, git log ${gitLogSize()} bytes`).toBe(
    `${what}: runs ${expectedRuns}, agent calls ${expectedCalls}, git log ${gitLogBaseline} bytes`,
  );
}

describe("the probes", () => {
  test("see a started run: a valid prompt reaches the agent, an allowed repository reaches git", async () => {
    const prompt = await fetch(`${base}/run`, { method: "POST", headers: { "x-api-key": KEY, "content-type": "text/plain" }, body: "hello" });
    expect(prompt.status).toBe(200);
    expect(t.runner.calls.map((c) => c.prompt)).toEqual(["hello"]);
    expect(await spy.invocations()).toEqual([]);

    const repo = await fetch(`${base}/run`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "x", repository: `http://127.0.0.1:${stub.port}/allowed/x.git` }),
    });
    expect(repo.status).toBe(502);
    expect(((await repo.json()) as { code: string }).code).toBe("clone_failed");
    const invocations = await spy.invocations();
    expect(invocations.some((line) => line.includes("ls-remote"))).toBe(true);
    // The clone failed, so the agent never ran.
    expect(t.runner.calls).toHaveLength(1);

    // The runs whose Idempotency-Key the fuzzer reuses (every reuse differs from them: 422). Idempotency-Keys
    // are per API key, so each key has its original.
    for (const key of [KEY, OLD_KEY]) {
      const original = await fetch(`${base}/runs`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "text/plain", "idempotency-key": CONFLICT_KEY },
        body: `original ${crypto.randomUUID()}`,
      });
      expect(original.status).toBe(202);
    }
    await t.runner.waitForCalls(3);
    expectedCalls = 3;
    // The hello run, the failed clone and the two originals.
    expectedRuns = 4;
    expect(runsStored()).toBe(expectedRuns);
    gitLogBaseline = gitLogSize();
    expect(gitLogBaseline).toBeGreaterThan(0);
    // The failed clone was a 502: its run's own line says so at warn (its request line, which that line answers
    // for, is at debug); from here on nothing may be logged at warn by the edge.
    expect(t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.level === "warn" && r.msg === "run finished").map((r) => r.code)).toEqual(["clone_failed"]);
    expect(edgeAlarms).toEqual([]);
  });
});

describe("hostile requests", () => {
  test(
    `${REQUESTS} generated requests to POST /run and /runs: documented answers only, nothing started for a refusal`,
    async () => {
      const statuses = new Map<number, number>();
      let tried = 0;
      let accepted = 0;
      let headerLimit = 0;
      let maxAnswer = 0;
      let freshKeys = 0;
      let slowest = 0;
      const started = performance.now();
      await fc.assert(
        fc.asyncProperty(fuzzRequest, (r) => checked(async () => {
          tried++;
          const expected = expectationOf(r);
          const sentId = r.requestId.value === null ? null : wireTrim(r.requestId.value);
          const sent = performance.now();
          const res = await fetch(`${base}${r.path}`, { method: "POST", headers: headersOf(r, () => `fz-${++freshKeys}-${crypto.randomUUID()}`), body: bodyOf(r) });
          const bytes = new Uint8Array(await res.arrayBuffer());
          const ms = performance.now() - sent;
          slowest = Math.max(slowest, ms);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          maxAnswer = Math.max(maxAnswer, bytes.length);
          const what = `${r.path} [${r.auth.name} | ${JSON.stringify(contentTypeSeen(r.contentType))} | ${r.body.name} | ${r.extra.name}] → ${res.status}`;

          const text = new TextDecoder().decode(bytes);
          const mismatch = (wanted: string) => new Error(`${what}; expected ${wanted}; answer: ${text.slice(0, 300)}`);
          if (ms > SLOW_MS) throw mismatch(`an answer within ${SLOW_MS} ms, not ${Math.round(ms)} ms`);

          if (expected.kind === "header-limit") {
            headerLimit++;
            if (res.status !== BUN_HEADER_LIMIT || bytes.length !== 0) throw mismatch(`Bun's empty ${BUN_HEADER_LIMIT}`);
            expectNothingStarted(what);
            return;
          }

          const requestId = res.headers.get("x-request-id") ?? "";
          if (sentId !== null && SANE_REQUEST_ID.test(sentId)) expect(requestId).toBe(sentId);
          else expect(requestId).toMatch(UUID);

          const refusedWith = expected.kind === "refused" ? expected.statuses : [429];
          if (expected.kind === "refused" || res.status === 429) {
            if (!refusedWith.includes(res.status)) throw mismatch(refusedWith.join(" or "));
            expect(DOCUMENTED.has(res.status)).toBe(true);
            expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
            expectErrorBody(JSON.parse(text), res.status, requestId);
            expect(res.headers.get("www-authenticate")).toBe(res.status === 401 ? WWW_AUTHENTICATE : null);
            // No amplification: an answer is never much larger than what was sent.
            expect(bytes.length).toBeLessThanOrEqual(r.body.bytes.length + 2048);
            // A credential that was sent is never reflected (long enough not to occur in the fixed wording by chance).
            for (const [, value] of r.auth.headers) {
              const credential = wireTrim(value).replace(/^(bearer|api-key)\s+/i, "");
              if (credential.length >= 16) expect(text.includes(credential)).toBe(false);
            }
            expectNothingStarted(what);
            return;
          }

          // A valid run: the agent is called once (and git never: generated repository runs are refused by construction).
          accepted++;
          expectedCalls++;
          expectedRuns++;
          if (r.path === "/runs") {
            if (res.status !== 202) throw mismatch("202");
            const created = JSON.parse(text) as Record<string, unknown> & { id: string };
            expect(created).toEqual({
              id: expect.stringMatching(UUID),
              status: expect.stringMatching(/^(queued|running|succeeded)$/),
              queue_position: created.queue_position === null ? null : expect.any(Number),
              links: { self: `/runs/${created.id}`, events: `/runs/${created.id}/events`, cancel: `/runs/${created.id}`, messages: `/runs/${created.id}/messages` },
            });
            await t.runner.waitForCalls(expectedCalls);
          } else if (expected.sse) {
            if (res.status !== 200) throw mismatch("200 (event stream)");
            expect(res.headers.get("content-type")).toStartWith("text/event-stream");
            expect(text).toContain("event: result");
          } else {
            if (res.status !== 200) throw mismatch("200");
            expect(JSON.parse(text)).toMatchObject({ success: true, output: "fake output", request_id: requestId });
          }
          expectNothingStarted(what);
        })),
        { numRuns: REQUESTS },
      );
      const seconds = (performance.now() - started) / 1000;
      figure(SUITE, "HTTP requests tried", tried);
      for (const [status, n] of [...statuses].sort(([a], [b]) => a - b)) figure(SUITE, `HTTP status ${status}`, n);
      figure(SUITE, "valid runs among them (agent called)", accepted);
      figure(SUITE, `refused by Bun itself (${BUN_HEADER_LIMIT}, headers past its limit)`, headerLimit);
      figure(SUITE, "largest answer (bytes)", maxAnswer);
      figure(SUITE, "slowest answer (ms)", Math.round(slowest));
      figure(SUITE, "HTTP duration (s)", seconds.toFixed(1));
      figure(SUITE, "HTTP requests per second", Math.round(tried / seconds));
      expect(tried).toBeGreaterThanOrEqual(10_000);
      for (const status of statuses.keys()) expect([...DOCUMENTED, 200, 202, BUN_HEADER_LIMIT]).toContain(status);
    },
    scale(180_000, 1_200_000),
  );

  test(
    `${RAW_REQUESTS} raw requests over TCP: broken framing and headers are refused or closed, never a 5xx from the app, nothing started`,
    async () => {
      const outcomes = new Map<string, number>();
      const bunLevel = new Map<number, number>();
      let tried = 0;
      const started = performance.now();
      await fc.assert(
        fc.asyncProperty(rawCase, (c) => checked(async () => {
          tried++;
          const outcome = await rawExchange(server.port as number, c.bytes, RAW_DEADLINE_MS);
          const label = outcome.kind === "response" ? `status ${outcome.response.status}` : outcome.kind;
          outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
          expect(`${c.name}: ${outcome.kind}`).not.toBe(`${c.name}: timeout`);
          if (c.expectStatus !== null) {
            expect(`${c.name}: ${label}`).toBe(`${c.name}: status ${c.expectStatus}`);
          }
          if (outcome.kind === "response") {
            const res: RawResponse = outcome.response;
            const contentType = headerOf(res, "content-type");
            if (contentType?.startsWith("application/json")) {
              // The app answered: a documented refusal in the one error shape.
              expect(DOCUMENTED.has(res.status)).toBe(true);
              const requestId = headerOf(res, "x-request-id") ?? "";
              if (c.requestId !== null) expect(requestId).toBe(c.requestId);
              expectErrorBody(JSON.parse(new TextDecoder().decode(res.body)), res.status, requestId);
            } else {
              // Bun refused it before the app ran: only with its own refusals, and never a well-formed request.
              expect(c.expectStatus).toBeNull();
              expect(BUN_REFUSALS).toContain(res.status);
              bunLevel.set(res.status, (bunLevel.get(res.status) ?? 0) + 1);
            }
          }
          expectNothingStarted(c.name);
        })),
        { numRuns: RAW_REQUESTS },
      );
      figure(SUITE, "raw TCP requests tried", tried);
      for (const [label, n] of [...outcomes].sort()) figure(SUITE, `raw outcome ${label}`, n);
      for (const [status, n] of [...bunLevel].sort()) figure(SUITE, `raw answered by Bun itself (non-JSON) with ${status}`, n);
      figure(SUITE, "raw duration (s)", ((performance.now() - started) / 1000).toFixed(1));
    },
    scale(120_000, 600_000),
  );

  test("afterwards the server still answers, no run is left, and nothing was logged as a failure", async () => {
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "healthy" });
    await waitFor(() => t.runs.inFlight === 0 && t.runs.queued === 0, { what: "runs to finish" });
    expect(await settledDir(t.workDir)).toEqual([]);
    expect(t.runner.calls).toHaveLength(expectedCalls);
    expect(edgeAlarms).toEqual([]);
    expect(t.logs.filter((line) => line.includes('"level":"error"'))).toEqual([]);
  });
});

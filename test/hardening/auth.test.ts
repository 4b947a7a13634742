// API keys over every route the app registers: one byte-identical 401 for every way of lacking a key; only the documented routes are open.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { KeyRegistry } from "../../src/auth/keys.ts";
import { parseKeysFile } from "../../src/auth/keys-file.ts";
import { WWW_AUTHENTICATE } from "../../src/http/auth.ts";
import { createEdge } from "../../src/http/edge.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { testApp, text, type TestApp } from "../support/app.ts";
import { keysToml } from "../support/keys.ts";
import { waitFor } from "../support/wait.ts";
import { figure, scale } from "./support/figures.ts";
import { headerOf, rawExchange, type RawResponse } from "./support/fuzz-raw-http.ts";

const SUITE = "auth";
const KEY = "auth-key-3c9e1f5a7b2d4068a1c3e5f7092b4d6f";
const OLD_KEY = "auth-key-rotated-5e7a9c1b3d5f70829a4b6c8d";
const ROTATED_FILE = keysToml([{ name: "rotated", key: OLD_KEY, scopes: ["admin"] }]);
const AUTH_HELP = "Authentication required: send Authorization: Bearer <key>, Authorization: Api-Key <key> or X-API-Key: <key>";
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const TIMING_REQUESTS = scale(3_000, 20_000);
const DEADLINE_MS = 5_000;

/** README, Authentication: the routes that need no key. */
function documentedPublic(path: string, metricsPublic: boolean): boolean {
  // The second server has METRICS_PUBLIC=true and DOCS_PUBLIC=false; the first the defaults.
  const docsPublic = !metricsPublic;
  const dashboard = path === "/" || path === "/ui" || path.startsWith("/ui/");
  return path === "/health" || dashboard || (docsPublic && (path === "/swagger" || path === "/swagger/" || path === "/swagger/json" || path.startsWith("/swagger/assets/") || path === "/favicon.ico")) || (metricsPublic && path === "/metrics");
}

/** The dashboard's assets have content-hashed names: one read from its page, so its route has a real file to serve. */
let dashboardAsset = "";
/** The page every /ui path answers with (static: no data in it). */
let dashboardPage = "";

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** A concrete path for a route pattern: `:id` is a run id, any other parameter names a real docs or dashboard asset. */
function concrete(pattern: string, runId: string): string {
  const asset = pattern.startsWith("/ui/") ? dashboardAsset : "swagger-ui.css";
  return pattern.replace(/:(\w+)/g, (_, name: string) => (name === "id" ? runId : asset)).replace(/\*/g, asset);
}

interface Served {
  t: TestApp;
  server: Server<unknown>;
  port: number;
  /** A finished run, so protected routes have something to leak. */
  runId: string;
}

async function serve(metricsPublic: boolean): Promise<Served> {
  // One key from API_KEY, the other from API_KEYS_FILE (admin): both sources in use, one comparison over both.
  const t = testApp({ apiKeys: [KEY], keysFile: ROTATED_FILE, metricsPublic, docsPublic: !metricsPublic });
  const edge = createEdge(t.app, createLogger({ level: "error", redactor: new Redactor([KEY, OLD_KEY]), sink: () => {} }));
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, development: false, reusePort: false, idleTimeout: 30, fetch: edge });
  const created = await t.request("/runs", text("a run to find", { "x-api-key": KEY }));
  expect(created.status).toBe(202);
  const runId = ((await created.json()) as { id: string }).id;
  await t.runner.waitForCalls(1);
  dashboardPage = await (await t.request("/ui")).text();
  dashboardAsset = /\/ui\/assets\/([^"]+)"/.exec(dashboardPage)?.[1] ?? "no-asset-found";
  return { t, server, port: server.port as number, runId };
}

function rawRequest(method: string, path: string, headers: string[]): string {
  const withBody = method !== "GET" && method !== "HEAD";
  const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...headers];
  if (withBody) lines.push("Content-Type: text/plain", "Content-Length: 5");
  return `${lines.join("\r\n")}\r\n\r\n${withBody ? "hello" : ""}`;
}

async function exchange(port: number, method: string, path: string, headers: string[] = []): Promise<RawResponse> {
  const outcome = await rawExchange(port, rawRequest(method, path, headers), DEADLINE_MS, { head: method === "HEAD" });
  if (outcome.kind !== "response") throw new Error(`${method} ${path}: ${outcome.kind} instead of an answer`);
  return outcome.response;
}

/** The answer as bytes, minus what legitimately differs per request: the Date and X-Request-ID headers and the id in the body. */
function normalised(res: RawResponse): string {
  const requestId = headerOf(res, "x-request-id") ?? "<none>";
  return Buffer.from(res.raw)
    .toString("latin1")
    .split("\r\n")
    .filter((line) => !/^(date|x-request-id):/i.test(line))
    .join("\r\n")
    .replaceAll(requestId, "<request-id>");
}

function expectRefusal(res: RawResponse, what: string, head: boolean): void {
  expect(`${what} → ${res.status}`).toBe(`${what} → 401`);
  expect(headerOf(res, "www-authenticate")).toBe(WWW_AUTHENTICATE);
  if (head) return;
  expect(headerOf(res, "content-type")).toBe("application/json; charset=utf-8");
  const requestId = headerOf(res, "x-request-id");
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(JSON.parse(new TextDecoder().decode(res.body))).toEqual({ success: false, code: "unauthorized", error: AUTH_HELP, request_id: requestId });
}

/** Every credential that is not a configured key, each as the header lines sent. */
const WRONG: [string, string[]][] = [
  ["no credentials", []],
  ["a wrong key", ["Authorization: Bearer wrong-key-00000000000000000000000000"]],
  ["an empty Bearer key", ["Authorization: Bearer "]],
  ["an empty Authorization", ["Authorization: "]],
  ["an empty X-API-Key", ["X-API-Key: "]],
  ["a close key (all but the last character)", [`Authorization: Bearer ${KEY.slice(0, -1)}0`]],
  ["a close rotated key", [`X-API-Key: ${OLD_KEY.slice(0, -1)}0`]],
  ["the key minus its last character", [`Authorization: Bearer ${KEY.slice(0, -1)}`]],
  ["the key plus one character", [`Authorization: Bearer ${KEY}x`]],
  ["the key plus one character, Api-Key scheme", [`Authorization: Api-Key ${KEY}x`]],
  ["the key plus one character, X-API-Key", [`X-API-Key: ${KEY}x`]],
  ["the key in upper case", [`Authorization: Bearer ${KEY.toUpperCase()}`]],
  ["the key in upper case, X-API-Key", [`X-API-Key: ${KEY.toUpperCase()}`]],
  ["the key in the Basic scheme", [`Authorization: Basic ${KEY}`]],
  ["the key base64-encoded in the Basic scheme", [`Authorization: Basic ${Buffer.from(`user:${KEY}`).toString("base64")}`]],
  ["the key in a Token scheme", [`Authorization: Token ${KEY}`]],
  ["the key without a scheme", [`Authorization: ${KEY}`]],
  ["the scheme without a key", ["Authorization: Bearer"]],
  ["the key as a query parameter", []],
  ["the key in a cookie", [`Cookie: api_key=${KEY}`]],
  ["the key in X-Api-Token", [`X-Api-Token: ${KEY}`]],
  ["the key twice in one Authorization", [`Authorization: Bearer ${KEY}, Bearer ${KEY}`]],
  ["the key in two Authorization headers", [`Authorization: Bearer ${KEY}`, `Authorization: Bearer ${KEY}`]],
  ["both keys in two X-API-Key headers", [`X-API-Key: ${KEY}`, `X-API-Key: ${OLD_KEY}`]],
];

let open: Served;
let metricsOpen: Served;

beforeAll(async () => {
  open = await serve(false);
  metricsOpen = await serve(true);
});

afterAll(async () => {
  await open?.server.stop(true);
  await metricsOpen?.server.stop(true);
});

describe("every registered route", () => {
  test("the app registers the documented routes (so the enumeration below covers them)", () => {
    const routes = open.t.app.routes.map((r) => `${r.method} ${r.path}`);
    for (const documented of ["POST /run", "POST /runs", "GET /runs", "GET /runs/:id", "DELETE /runs/:id", "POST /runs/:id/cancel", "GET /runs/:id/events", "GET /metrics", "GET /health", "GET /swagger", "GET /swagger/json", "GET /ui", "GET /ui/runs/:id", "GET /", "GET /runs/:id/diff"]) {
      expect(routes).toContain(documented);
    }
    expect(routes.some((r) => r.startsWith("GET /swagger/assets/"))).toBe(true);
    figure(SUITE, "routes registered", routes.length);
  });

  for (const metricsPublic of [false, true]) {
    test(`without a key, every method on every route is refused with one identical 401 except the public ones (METRICS_PUBLIC=${metricsPublic}, DOCS_PUBLIC=${!metricsPublic})`, async () => {
      const s = metricsPublic ? metricsOpen : open;
      const paths = [...new Set(s.t.app.routes.map((r) => r.path))];
      const references = new Map<string, string>();
      let refused = 0;
      let opened = 0;
      const callsBefore = s.t.runner.calls.length;
      for (const pattern of paths) {
        const path = concrete(pattern, s.runId);
        const registered = new Set(s.t.app.routes.filter((r) => r.path === pattern).map((r) => r.method));
        for (const method of METHODS) {
          const res = await exchange(s.port, method, path);
          const what = `${method} ${pattern}`;
          if (documentedPublic(path, metricsPublic)) {
            opened++;
            // Open without a key: the route itself answers (200 where it is registered — / redirects to /ui —, 404 for another method).
            const expected = registered.has(method) || (method === "HEAD" && registered.has("GET")) ? (path === "/" ? 302 : 200) : 404;
            expect(`${what} → ${res.status}`).toBe(`${what} → ${expected}`);
            continue;
          }
          refused++;
          expectRefusal(res, what, method === "HEAD");
          const group = method === "HEAD" ? "HEAD" : "other";
          const reference = references.get(group) ?? normalised(res);
          references.set(group, reference);
          expect(`${what}\n${normalised(res)}`).toBe(`${what}\n${reference}`);
        }
      }
      // A refusal is made before anything else: no run started.
      expect(s.t.runner.calls.length).toBe(callsBefore);
      figure(SUITE, `route × method pairs refused without a key (METRICS_PUBLIC=${metricsPublic})`, refused);
      figure(SUITE, `route × method pairs open without a key (METRICS_PUBLIC=${metricsPublic})`, opened);
    });
  }

  test("with either key in any of the three forms, no route answers 401", async () => {
    const forms = [`Authorization: Bearer ${KEY}`, `Authorization: Api-Key ${OLD_KEY}`, `X-API-Key: ${KEY}`, `authorization: bearer ${OLD_KEY}`];
    // A run id nobody has, so DELETE and cancel find nothing to cancel.
    const unknownId = crypto.randomUUID();
    for (const r of open.t.app.routes) {
      for (const form of forms) {
        const res = await exchange(open.port, r.method, concrete(r.path, unknownId), [form]);
        expect(`${r.method} ${r.path} with ${form.split(":")[0]} → ${res.status === 401 ? 401 : "not 401"}`).toBe(`${r.method} ${r.path} with ${form.split(":")[0]} → not 401`);
      }
    }
    // POST /runs started runs: let them finish so the next test counts agent calls from a still point.
    await waitFor(() => open.t.runs.inFlight === 0 && open.t.runs.queued === 0, { what: "runs to finish" });
  });

  test("every wrong credential gets the byte-identical answer a missing one gets, on every protected route", async () => {
    let compared = 0;
    const callsBefore = open.t.runner.calls.length;
    for (const r of open.t.app.routes) {
      const path = concrete(r.path, open.runId);
      if (documentedPublic(path, false)) continue;
      const reference = normalised(await exchange(open.port, r.method, path));
      for (const [name, headers] of WRONG) {
        const target = name === "the key as a query parameter" ? `${path}?api_key=${KEY}&key=${KEY}` : path;
        const res = await exchange(open.port, r.method, target, headers);
        expectRefusal(res, `${r.method} ${r.path} with ${name}`, false);
        expect(`${r.method} ${r.path} with ${name}\n${normalised(res)}`).toBe(`${r.method} ${r.path} with ${name}\n${reference}`);
        compared++;
      }
    }
    expect(open.t.runner.calls.length).toBe(callsBefore);
    figure(SUITE, "wrong-credential answers compared byte for byte", compared);
  });

  test("paths dressed up to look public reach nothing protected", async () => {
    const s = open;
    const tricks = [
      "/swagger/../runs",
      "/swagger/%2e%2e/runs",
      "/swagger/..%2fruns",
      `/swagger/../runs/${s.runId}`,
      "/swagger/assets/../../metrics",
      "/health/../metrics",
      "/health/%2e%2e/runs",
      "/health%2f..%2fruns",
      "//runs",
      "/./runs",
      "/RUNS",
      "/runs/",
      "/runs;/health",
      "/runs?/health",
      "/metrics?x=/health",
      "/swaggerx/../runs",
      "/ui/../runs",
      "/ui/%2e%2e/runs",
      "/ui/..%2fruns",
      "/ui/runs/..%2f..%2fruns",
      "/ui/assets/..%2f..%2fmetrics",
      "/ui%2f..%2fruns",
      "/uix/../runs",
      "/ui/runs/../../metrics",
      "/health\\..\\runs",
      `http://127.0.0.1/runs/${s.runId}`,
    ];
    const callsBefore = s.t.runner.calls.length;
    for (const path of tricks) {
      for (const method of ["GET", "POST", "DELETE"]) {
        const res = await exchange(s.port, method, path);
        const body = new TextDecoder().decode(res.body);
        const leaked = body.includes(s.runId) || body.includes("opencode_server_") || body.includes('"runs":');
        expect(`${method} ${path} → ${res.status}${leaked ? " with protected content" : ""}`).toBe(`${method} ${path} → ${res.status}`);
        // Whatever it reached, it was not a protected handler answering without a key (a /ui/runs/… path is the dashboard's static page).
        if (!(res.status === 200 && body === dashboardPage)) expect([400, 401, 404]).toContain(res.status);
      }
    }
    expect(s.t.runner.calls.length).toBe(callsBefore);
  });
});

describe("timing", () => {
  test("a close wrong key costs what a random wrong key costs (measured, not asserted: the comparison hashes every key)", async () => {
    const close = `${KEY.slice(0, -1)}0`;
    const durations = { close: [] as number[], random: [] as number[], right: [] as number[] };
    const request = async (key: string): Promise<number> => {
      const started = performance.now();
      const res = await open.t.request("/runs?limit=1", { headers: { authorization: `Bearer ${key}` } });
      await res.arrayBuffer();
      return performance.now() - started;
    };
    // Warm up the JIT so the first kind measured is not penalised.
    for (let i = 0; i < 200; i++) await request(close);
    const random = () => `${crypto.randomUUID()}${crypto.randomUUID()}`.slice(0, KEY.length);
    for (let i = 0; i < TIMING_REQUESTS; i++) {
      // Interleaved, in alternating order, so drift in the machine's load and any first-of-a-pair cost fall on both alike.
      if (i % 2 === 0) {
        durations.close.push(await request(close));
        durations.random.push(await request(random()));
      } else {
        durations.random.push(await request(random()));
        durations.close.push(await request(close));
      }
      if (i % 10 === 0) durations.right.push(await request(KEY));
    }
    const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
    figure(SUITE, `median 401 time, close wrong key (n=${durations.close.length})`, us(median(durations.close)));
    figure(SUITE, `median 401 time, random wrong key (n=${durations.random.length})`, us(median(durations.random)));
    figure(SUITE, "close / random median ratio", (median(durations.close) / median(durations.random)).toFixed(3));
    figure(SUITE, `median 200 time, right key, for scale (n=${durations.right.length})`, us(median(durations.right)));
    expect(durations.close).toHaveLength(TIMING_REQUESTS);
  });

  test("the comparison alone: keyMatches on a close key and on a random key (measured, not asserted)", () => {
    const registry = new KeyRegistry([KEY], parseKeysFile(ROTATED_FILE), "keys.toml");
    const keyMatches = (presented: string[]) => registry.match(presented).kind === "ok";
    const close = [`${KEY.slice(0, -1)}0`];
    const timings = { close: [] as number[], random: [] as number[] };
    const time = (presented: string[]) => {
      const started = performance.now();
      for (let j = 0; j < 100; j++) keyMatches(presented);
      return (performance.now() - started) / 100;
    };
    for (let i = 0; i < 2_000; i++) time(close);
    for (let i = 0; i < TIMING_REQUESTS; i++) {
      const random = [`${crypto.randomUUID()}${crypto.randomUUID()}`.slice(0, KEY.length)];
      if (i % 2 === 0) {
        timings.close.push(time(close));
        timings.random.push(time(random));
      } else {
        timings.random.push(time(random));
        timings.close.push(time(close));
      }
    }
    expect(keyMatches(close)).toBe(false);
    figure(SUITE, "median keyMatches time, close key", `${(median(timings.close) * 1e6).toFixed(0)} ns`);
    figure(SUITE, "median keyMatches time, random key", `${(median(timings.random) * 1e6).toFixed(0)} ns`);
    figure(SUITE, "keyMatches close / random median ratio", (median(timings.close) / median(timings.random)).toFixed(3));
  });
});

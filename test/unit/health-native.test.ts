// The native /health route reuses an answer's bytes only while every input and its millisecond are the same, and waits for the queue count only when it must.
import { afterEach, expect, setSystemTime, test } from "bun:test";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { nativeHealthRoute } from "../../src/modules/health/native-route.ts";
import type { HealthSource } from "../../src/modules/health/service.ts";

afterEach(() => setSystemTime());

interface Knobs {
  inFlight: number;
  queued: number;
  fresh: boolean;
  draining: boolean;
  problem: string | null;
  version: string;
  reads: number;
}

function route(k: Knobs) {
  const src: HealthSource = {
    version: "9.9.9",
    opencodeVersion: () => k.version,
    auth: "none",
    sandbox: "off",
    network: "open",
    startedAt: Date.parse("2026-12-02T00:00:00.000Z"),
    inFlight: () => k.inFlight,
    queued: async () => (k.reads++, k.queued),
    queuedIfFresh: () => (k.fresh ? k.queued : null),
    store: { kind: "sqlite", replica: "r1" },
    draining: () => k.draining,
    storeProblem: () => k.problem,
  };
  const observed: string[] = [];
  const logger = createLogger({ level: "error", redactor: new Redactor([]), sink: () => {} });
  const r = nativeHealthRoute(src, logger, (m, s) => observed.push(`${m} ${s}`), () => new Response("fallback"));
  const get = async () => {
    const res = await r.GET(new Request("http://localhost/health", { headers: { host: "localhost" } }), null);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return { get, observed, route: r };
}

const answer = (over: Record<string, unknown>) => ({
  status: "healthy",
  timestamp: "2026-12-02T00:00:10.000Z",
  version: "9.9.9",
  opencode_version: "1.0.0",
  auth: "none",
  sandbox: "off",
  network: "open",
  store: "ok",
  runs_in_flight: 0,
  store_kind: "sqlite",
  replica: "r1",
  runs_queued: 0,
  uptime_seconds: 10,
  ...over,
});

test("within one millisecond a changed input still changes the answer; the next millisecond gets its own timestamp", async () => {
  const k: Knobs = { inFlight: 0, queued: 0, fresh: true, draining: false, problem: null, version: "1.0.0", reads: 0 };
  const { get, observed } = route(k);
  setSystemTime(new Date("2026-12-02T00:00:10.000Z"));
  expect(await get()).toEqual({ status: 200, body: answer({}) });
  expect(await get()).toEqual({ status: 200, body: answer({}) });
  k.inFlight = 2;
  expect(await get()).toEqual({ status: 200, body: answer({ runs_in_flight: 2 }) });
  k.queued = 3;
  expect(await get()).toEqual({ status: 200, body: answer({ runs_in_flight: 2, runs_queued: 3 }) });
  k.version = "1.0.1";
  expect(await get()).toEqual({ status: 200, body: answer({ runs_in_flight: 2, runs_queued: 3, opencode_version: "1.0.1" }) });
  k.problem = "disk full";
  expect(await get()).toEqual({ status: 503, body: answer({ status: "degraded", store: "unwritable", store_error: "disk full", runs_in_flight: 2, runs_queued: 3, opencode_version: "1.0.1" }) });
  k.problem = null;
  k.draining = true;
  expect(await get()).toEqual({ status: 503, body: answer({ status: "shutting_down", runs_in_flight: 2, runs_queued: 3, opencode_version: "1.0.1" }) });
  setSystemTime(new Date("2026-12-02T00:00:10.001Z"));
  expect((await get()).body.timestamp).toBe("2026-12-02T00:00:10.001Z");
  expect(observed).toEqual(["GET 200", "GET 200", "GET 200", "GET 200", "GET 200", "GET 503", "GET 503", "GET 503"]);
  expect(k.reads).toBe(0);
});

test("a stale queue count is read from the store before the answer, not guessed", async () => {
  const k: Knobs = { inFlight: 0, queued: 5, fresh: false, draining: false, problem: null, version: "1.0.0", reads: 0 };
  const { get } = route(k);
  setSystemTime(new Date("2026-12-02T00:00:10.000Z"));
  expect(await get()).toEqual({ status: 200, body: answer({ runs_queued: 5 }) });
  expect(k.reads).toBe(1);
  k.fresh = true;
  k.queued = 6;
  expect(await get()).toEqual({ status: 200, body: answer({ runs_queued: 6 }) });
  expect(k.reads).toBe(1);
});

test("a request without a Host header goes to the fallback (the app's 400), unanswered here", async () => {
  const k: Knobs = { inFlight: 0, queued: 0, fresh: true, draining: false, problem: null, version: "1", reads: 0 };
  const { route: r } = route(k);
  expect(await (await r.GET(new Request("http://localhost/health"), null)).text()).toBe("fallback");
  expect(await (await r.GET(new Request("http://localhost/health", { headers: { host: "a b" } }), null)).text()).toBe("fallback");
});

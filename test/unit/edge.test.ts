// The edge handler: one id, one count and one log line per request — for answers, errors and an app that throws.
import { expect, test } from "bun:test";
import { Elysia } from "elysia";
import { createEdge, routeMatcher } from "../../src/http/edge.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";

function harness(app: Parameters<typeof createEdge>[0], level: "debug" | "info" = "info") {
  const lines: Record<string, unknown>[] = [];
  const seen: [string, string, number][] = [];
  const logger = createLogger({ level, redactor: new Redactor(), sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const edge = createEdge(app, logger, (method, route, status) => seen.push([method, route, status]));
  return { lines, seen, edge };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("a request is counted after its answer is handed over, on the loop's next turn — or at once when a scrape flushes", async () => {
  const { edge, seen } = harness(new Elysia().get("/runs/:id", ({ params }) => ({ id: params.id })));
  expect((await edge(new Request("http://localhost/runs/a"))).status).toBe(200);
  const counted = seen.length;
  edge.flush();
  expect([counted, seen]).toEqual([0, [["GET", "/runs/:id", 200]]]);
  expect((await edge(new Request("http://localhost/runs/b"))).status).toBe(200);
  await nextTurn();
  expect(seen).toEqual([["GET", "/runs/:id", 200], ["GET", "/runs/:id", 200]]);
});

test("route labels are the app's patterns; anything else is 'unmatched'", () => {
  const routeOf = routeMatcher([
    { method: "GET", path: "/health" },
    { method: "GET", path: "/runs/:id" },
    { method: "GET", path: "/runs/:id/events" },
    { method: "POST", path: "/runs/:id/cancel" },
    { method: "GET", path: "/files/*" },
  ]);
  expect(routeOf("GET", "/health")).toBe("/health");
  expect(routeOf("HEAD", "/health")).toBe("/health");
  expect(routeOf("GET", "/runs/0197")).toBe("/runs/:id");
  expect(routeOf("GET", "/runs/0197/events")).toBe("/runs/:id/events");
  expect(routeOf("POST", "/runs/0197/cancel")).toBe("/runs/:id/cancel");
  expect(routeOf("GET", "/files/a/b")).toBe("/files/*");
  expect(routeOf("DELETE", "/health")).toBe("unmatched");
  expect(routeOf("GET", "/runs/a/b/c")).toBe("unmatched");
  expect(routeOf("GET", "/healthz")).toBe("unmatched");
});

test("every answer carries the request id (a sane incoming one is kept), is counted once and logged once, path without query", async () => {
  const app = new Elysia().get("/runs/:id", ({ params }) => ({ id: params.id })).post("/teapot", ({ set }) => ((set.status = 418), "short and stout"));
  const { edge, lines, seen } = harness(app);
  const ok = await edge(new Request("http://localhost/runs/r1?token=secret-in-query", { headers: { "x-request-id": "trace-42" } }));
  expect(ok.status).toBe(200);
  expect(ok.headers.get("x-request-id")).toBe("trace-42");
  expect(await ok.json()).toEqual({ id: "r1" });
  const teapot = await edge(new Request("http://localhost/teapot", { method: "POST", headers: { "x-request-id": "bad id with spaces" } }));
  expect(teapot.status).toBe(418);
  const generated = teapot.headers.get("x-request-id") as string;
  expect(generated).toMatch(/^[0-9a-f-]{36}$/);
  await nextTurn();
  expect(seen).toEqual([["GET", "/runs/:id", 200], ["POST", "/teapot", 418]]);
  expect(lines).toEqual([
    { time: expect.any(String), level: "info", msg: "request", request_id: "trace-42", method: "GET", path: "/runs/r1", status: 200, duration_ms: expect.any(Number), client: "unknown" },
    { time: expect.any(String), level: "info", msg: "request", request_id: generated, method: "POST", path: "/teapot", status: 418, duration_ms: expect.any(Number), client: "unknown" },
  ]);
});

test("probes are logged at debug only while they succeed; a failing probe and a 5xx are not hidden", async () => {
  let healthy = true;
  const app = new Elysia().get("/health", ({ set }) => (healthy ? "ok" : ((set.status = 503), "draining")));
  const quiet = harness(app, "info");
  await quiet.edge(new Request("http://localhost/health"));
  expect(quiet.lines).toEqual([]);
  healthy = false;
  await quiet.edge(new Request("http://localhost/health"));
  expect(quiet.lines.map((l) => [l.level, l.status])).toEqual([["warn", 503]]);
  healthy = true;
  const verbose = harness(app, "debug");
  await verbose.edge(new Request("http://localhost/health"));
  expect(verbose.lines.map((l) => [l.level, l.path])).toEqual([["debug", "/health"]]);
});

test("an app that throws still gets the one error shape, an id, a count and a log line", async () => {
  const app = {
    routes: [{ method: "GET", path: "/boom" }],
    fetch(): Response {
      throw new Error("kaboom");
    },
  };
  const { edge, lines, seen } = harness(app);
  const res = await edge(new Request("http://localhost/boom"));
  const id = res.headers.get("x-request-id");
  expect(res.status).toBe(500);
  expect(await res.json()).toEqual({ success: false, code: "internal", error: "Internal server error", request_id: id });
  await nextTurn();
  expect(seen).toEqual([["GET", "/boom", 500]]);
  expect(lines.map((l) => [l.level, l.msg, l.request_id])).toEqual([["error", "unhandled error", id], ["warn", "request", id]]);
});

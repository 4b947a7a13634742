// GET /health as Bun.serve's native route answers exactly what the app's route answers, counted and logged the same way.
import { afterEach, expect, test } from "bun:test";
import { RunStopped } from "../../src/runs/abort.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

let s: TestServer | null = null;
afterEach(async () => {
  await s?.stop();
  s = null;
});

function env(): Record<string, string> {
  const dir = tempDir("ocs-health-");
  return { HOME: dir, WORK_DIR: dir, DATA_DIR: `${dir}/data`, PORT: "0", HOST: "127.0.0.1", SANDBOX: "off", AGENT_NETWORK: "open", LOG_LEVEL: "debug" };
}

/** The fields that change with every answer. */
const moving = (body: Record<string, unknown>) => ({ ...body, timestamp: "T", uptime_seconds: 0 });

test("the native route's answer equals the app's (status, body, content type); the id is echoed; HEAD has the headers and no body", async () => {
  s = await startTestServer(env(), { runner: new FakeRunner() });
  const native = await fetch(`${s.url}/health`, { headers: { "x-request-id": "probe-1" } });
  const app = await s.server.app.handle(new Request("http://localhost/health"));
  expect(native.status).toBe(200);
  expect(native.headers.get("content-type")).toBe(app.headers.get("content-type"));
  expect(native.headers.get("x-request-id")).toBe("probe-1");
  const body = (await native.json()) as Record<string, unknown>;
  expect(moving(body)).toEqual(moving((await app.json()) as Record<string, unknown>));
  expect(Date.parse(String(body.timestamp))).toBeGreaterThan(0);
  const head = await fetch(`${s.url}/health`, { method: "HEAD" });
  expect([head.status, await head.text(), head.headers.get("content-type")]).toEqual([200, "", "application/json;charset=utf-8"]);
  expect(head.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  // Other methods and paths still go to the app: its JSON 404, its /health/ alias.
  const post = await fetch(`${s.url}/health`, { method: "POST" });
  expect([post.status, ((await post.json()) as { code: string }).code]).toEqual([404, "not_found"]);
  expect(moving((await (await fetch(`${s.url}/health/`)).json()) as Record<string, unknown>)).toEqual(moving(body));
});

test("probes are counted in the same metric series as every request, and logged at debug with their id", async () => {
  s = await startTestServer(env(), { runner: new FakeRunner() });
  for (let i = 0; i < 3; i++) expect((await fetch(`${s.url}/health`, { headers: { "x-request-id": `p-${i}` } })).status).toBe(200);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  expect(metrics).toContain('opencode_server_http_requests_total{method="GET",route="/health",status="200"} 3');
  expect(metrics).toContain('opencode_server_http_request_duration_seconds_count{method="GET",route="/health"} 3');
  const lines = s.logRecords().filter((r) => r.msg === "request" && String(r.request_id).startsWith("p-"));
  expect(lines.map((r) => ({ ...r, time: 0, duration_ms: 0 }))).toEqual(
    [0, 1, 2].map((i) => ({ level: "debug", time: 0, msg: "request", request_id: `p-${i}`, method: "GET", path: "/health", status: 200, duration_ms: 0, client: "127.0.0.1" })),
  );
});

test("draining: the native route answers 503 shutting_down, like the app, and says so at warn", async () => {
  const gate = Promise.withResolvers<void>();
  s = await startTestServer(env(), { runner: new FakeRunner(async () => (await gate.promise, { output: "x" })) });
  const run = fetch(`${s.url}/run`, { method: "POST", body: "hold" });
  await waitFor(() => s?.server.runs.inFlight === 1, { what: "the run to start" });
  const stopping = s.server.shutdown(5_000);
  await waitFor(async () => (await fetch(`${s?.url}/health`)).status === 503, { what: "health to say draining" });
  const res = await fetch(`${s.url}/health`, { headers: { "x-request-id": "drain-1" } });
  expect(res.status).toBe(503);
  expect(((await res.json()) as { status: string }).status).toBe("shutting_down");
  expect(s.logRecords().find((r) => r.request_id === "drain-1")).toMatchObject({ level: "warn", status: 503, path: "/health" });
  s.server.runs.abortAll(new RunStopped("shutting_down", "test"));
  gate.resolve();
  await run;
  await stopping;
  s = null;
});

/** One raw HTTP/1.1 request (a Host fetch() would never send); the status line's code. */
async function rawStatus(port: number, path: string, host: string): Promise<number> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  let got = "";
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, chunk) {
        got += chunk.toString("latin1");
        if (got.includes("\r\n")) resolve(got);
      },
      close: () => resolve(got),
      error: (_s, err) => reject(err),
    },
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const text = await promise;
  socket.end();
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

test("a Host that does not parse gets the 400 every route gives it (checked from the headers, not the URL)", async () => {
  s = await startTestServer(env(), { runner: new FakeRunner() });
  const port = Number(new URL(s.url).port);
  for (const host of ["a b", "[::1", "a:99999", "%zz"]) expect([host, await rawStatus(port, "/health", host)]).toEqual([host, await rawStatus(port, "/runs", host)]);
  expect(await rawStatus(port, "/health", "a b")).toBe(400);
  expect(await rawStatus(port, "/health", "127.0.0.1")).toBe(200);
  expect(await rawStatus(port, "/health", "localhost:1")).toBe(200);
});

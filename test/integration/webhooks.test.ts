// Completion webhooks end to end in-process: signed deliveries of a run's state, retries with backoff, hanging and absent receivers, restarts, limits.
import { afterEach, expect, test } from "bun:test";
import { verifySignature } from "../../src/webhooks/signature.ts";
import { json, testApp, type TestApp } from "../support/app.ts";
import { readJson, type JsonObject } from "../support/http.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";

const SECRET = "whsec-test-4b1d9e0c7a3f5e21";
const apps: TestApp[] = [];
const receivers: WebhookReceiver[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver({ secret: SECRET });
  receivers.push(r);
  return r;
}

function app(env: Record<string, string>, dataDir?: string): TestApp {
  const a = testApp({ env: { WEBHOOK_SECRET: SECRET, WEBHOOK_RETRY_BASE: "100ms", WEBHOOK_TIMEOUT: "1s", ...env }, ...(dataDir ? { dataDir } : {}) });
  apps.push(a);
  return a;
}

async function start(a: TestApp, body: JsonObject): Promise<string> {
  const res = await a.request("/runs", json(body));
  expect(res.status).toBe(202);
  return String((await readJson(res)).id);
}

async function view(a: TestApp, id: string): Promise<JsonObject> {
  return readJson(await a.request(`/runs/${id}`));
}

/** The run's deliveries once every one of them has settled. */
async function settled(a: TestApp, id: string, n: number): Promise<JsonObject[]> {
  return waitFor(async () => {
    const hooks = (await view(a, id)).webhooks as JsonObject[];
    return hooks.length === n && hooks.every((h) => h.state !== "pending") ? hooks : null;
  }, { timeoutMs: 20_000, what: `${n} settled deliveries of run ${id}` });
}

const attempt = (status_code: number | null, error: string | null) => ({ at: expect.any(String), status_code, error, duration_ms: expect.any(Number) });

test("the final state goes to callback_url, signed over a body that holds the delivery id, the time and GET /runs/{id}; the attempt is on the run", async () => {
  const r = await receiver();
  const a = app({ WEBHOOK_ALLOWED_PREFIXES: r.url("/hooks/") });
  const id = await start(a, { prompt: "hello", callback_url: r.url("/hooks/ci") });
  const [d] = await r.waitForDeliveries(1);
  const hooks = await settled(a, id, 1);
  const { webhooks: _shown, ...run } = await view(a, id);
  void _shown;
  expect(d?.signatureValid).toBe(true);
  expect(verifySignature(SECRET, d?.body ?? "", d?.headers["x-signature-256"])).toBe(true);
  expect(d?.path).toBe("/hooks/ci");
  expect(d?.json).toEqual({ id: hooks[0]?.id, event: "run.finished", status: "succeeded", attempt: 1, timestamp: expect.any(String), run });
  expect(Math.abs(Date.parse(String((d?.json as JsonObject).timestamp)) - (d?.at ?? 0))).toBeLessThan(5000);
  expect(d?.headers).toMatchObject({ "content-type": "application/json", "x-webhook-id": hooks[0]?.id, "x-webhook-event": "run.finished", "user-agent": expect.stringMatching(/^opencode-server\//) });
  expect(hooks).toEqual([
    { id: expect.stringMatching(/^[0-9a-f]{32}$/), event: "run.finished", status: "succeeded", target: "callback_url", url: r.url("/hooks/ci"), state: "delivered", attempts: [attempt(200, null)], next_attempt_at: null },
  ]);
  expect(await a.metrics.render()).toContain('opencode_server_webhook_attempts_total{event="run.finished",outcome="delivered"} 1');
});

test("a run's end wakes the dispatcher once it is written (after the answer): its delivery does not wait for a poll", async () => {
  const r = await receiver();
  // No poll within the test: only the run's end can set the delivery off.
  const a = testApp({ env: { WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOWED_PREFIXES: r.url("/hooks/") }, webhookPollMs: 3_600_000 });
  apps.push(a);
  for (const door of ["/run", "/runs"]) {
    const res = await a.request(door, json({ prompt: `via ${door}`, callback_url: r.url(`/hooks${door}`) }));
    expect(res.status).toBe(door === "/run" ? 200 : 202);
  }
  const got = await r.waitForDeliveries(2);
  expect(got.map((d) => d.path).sort()).toEqual(["/hooks/run", "/hooks/runs"]);
});

test("a receiver that fails the first attempts gets the same delivery again, with backoff, until it answers 2xx", async () => {
  const r = await receiver();
  r.failNext(2, 503);
  const a = app({ WEBHOOK_ALLOWED_PREFIXES: r.url("/") });
  const id = await start(a, { prompt: "hello", callback_url: r.url("/hook") });
  const got = await r.waitForDeliveries(3);
  const hooks = await settled(a, id, 1);
  expect(got.map((d) => [(d.json as JsonObject).id, (d.json as JsonObject).attempt, d.answer])).toEqual([
    [hooks[0]?.id, 1, "503"],
    [hooks[0]?.id, 2, "503"],
    [hooks[0]?.id, 3, "200"],
  ]);
  // Equal jitter: each wait is at least half its ceiling (100 ms, then 200 ms).
  expect((got[1]?.at ?? 0) - (got[0]?.at ?? 0)).toBeGreaterThanOrEqual(45);
  expect((got[2]?.at ?? 0) - (got[1]?.at ?? 0)).toBeGreaterThanOrEqual(95);
  expect(hooks[0]?.attempts).toEqual([attempt(503, "status 503"), attempt(503, "status 503"), attempt(200, null)]);
  const metrics = await a.metrics.render();
  expect(metrics).toContain('opencode_server_webhook_attempts_total{event="run.finished",outcome="retry"} 2');
});

test("attempts are bounded by WEBHOOK_MAX_ATTEMPTS: then the delivery is failed, and counted", async () => {
  const r = await receiver();
  r.answerAlways({ kind: "status", status: 500 });
  const a = app({ WEBHOOK_ALLOWED_PREFIXES: r.url("/"), WEBHOOK_MAX_ATTEMPTS: "3" });
  const id = await start(a, { prompt: "hello", callback_url: r.url("/hook") });
  const hooks = await settled(a, id, 1);
  expect(hooks[0]).toMatchObject({ state: "failed", next_attempt_at: null, attempts: [attempt(500, "status 500"), attempt(500, "status 500"), attempt(500, "status 500")] });
  expect(r.hits).toBe(3);
  expect(await a.metrics.render()).toContain('opencode_server_webhook_attempts_total{event="run.finished",outcome="failed"} 1');
});

test("a hanging receiver is cut off at WEBHOOK_TIMEOUT and delays neither runs nor other receivers' deliveries", async () => {
  const stuck = await receiver();
  stuck.answerAlways({ kind: "hang" });
  const ok = await receiver();
  const a = app({ WEBHOOK_ALLOWED_PREFIXES: [stuck.url("/"), ok.url("/")].join(","), WEBHOOK_TIMEOUT: "2s", WEBHOOK_MAX_ATTEMPTS: "1" });
  const first = await start(a, { prompt: "one", callback_url: stuck.url("/hook") });
  await waitFor(() => stuck.hung >= 1, { what: "the stuck receiver to be hit" });
  const second = await start(a, { prompt: "two", callback_url: ok.url("/hook") });
  await ok.waitForDeliveries(1);
  // The second run finished and was delivered while the first delivery still hangs.
  expect([stuck.released, (await view(a, second)).status, ((await view(a, first)).webhooks as JsonObject[])[0]?.state]).toEqual([0, "succeeded", "pending"]);
  const hooks = await settled(a, first, 1);
  expect(hooks[0]?.attempts).toEqual([attempt(null, expect.stringMatching(/timed out/i))]);
});

test("a hanging receiver with a backlog of due deliveries does not hide the deliveries behind them from other receivers", async () => {
  const stuck = await receiver();
  stuck.answerAlways({ kind: "hang" });
  const ok = await receiver();
  const a = app({ WEBHOOK_ALLOWED_PREFIXES: [stuck.url("/"), ok.url("/")].join(","), WEBHOOK_TIMEOUT: "30s", WEBHOOK_MAX_ATTEMPTS: "1" });
  // More due deliveries to the stuck host than one read of the outbox returns (its two slots are taken).
  for (let i = 0; i < 60; i++) await start(a, { prompt: `stuck ${i}`, callback_url: stuck.url("/hook") });
  await waitFor(() => stuck.hung >= 2, { what: "the stuck receiver's two slots to be taken" });
  const id = await start(a, { prompt: "healthy", callback_url: ok.url("/hook") });
  const [d] = await ok.waitForDeliveries(1, 5000);
  expect([((d?.json as JsonObject).run as JsonObject).id, stuck.hung]).toEqual([id, 2]);
});

test("WEBHOOK_EVENTS=run.finished,run.status: queued, running and the end, in order, to callback_url and WEBHOOK_URL (never shown)", async () => {
  const r = await receiver();
  const a = app({ WEBHOOK_ALLOWED_PREFIXES: r.url("/cb/"), WEBHOOK_URL: r.url("/server"), WEBHOOK_EVENTS: "run.finished,run.status" });
  const id = await start(a, { prompt: "hello", callback_url: r.url("/cb/x") });
  await r.waitForDeliveries(6);
  const hooks = await settled(a, id, 6);
  const seen = (path: string) => r.deliveries.filter((d) => d.path === path).map((d) => [(d.json as JsonObject).event, (d.json as JsonObject).status]).sort();
  const expected = [["run.finished", "succeeded"], ["run.status", "queued"], ["run.status", "running"]];
  expect([seen("/cb/x"), seen("/server")]).toEqual([expected, expected]);
  expect(hooks.map((h) => [h.event, h.status, h.target, h.url])).toEqual([
    ["run.status", "queued", "callback_url", r.url("/cb/x")],
    ["run.status", "queued", "WEBHOOK_URL", null],
    ["run.status", "running", "callback_url", r.url("/cb/x")],
    ["run.status", "running", "WEBHOOK_URL", null],
    ["run.finished", "succeeded", "callback_url", r.url("/cb/x")],
    ["run.finished", "succeeded", "WEBHOOK_URL", null],
  ]);
  expect(r.deliveries.every((d) => d.signatureValid)).toBe(true);
});

test("a receiver that is down across a restart gets the delivery from the next server process", async () => {
  const r = await receiver();
  const url = r.url("/hook");
  await r.stop();
  const dataDir = tempDir("ocs-data-");
  const env = { WEBHOOK_ALLOWED_PREFIXES: r.url("/"), WEBHOOK_RETRY_BASE: "1s" };
  const a = app(env, dataDir);
  const id = await start(a, { prompt: "hello", callback_url: url });
  await waitFor(async () => (((await view(a, id)).webhooks as JsonObject[])[0]?.attempts as unknown[] | undefined)?.length === 1, { what: "the first, failed attempt" });
  await a.close();
  apps.splice(apps.indexOf(a), 1);
  await r.start();
  const b = app(env, dataDir);
  const [d] = await r.waitForDeliveries(1, 20_000);
  const hooks = await settled(b, id, 1);
  expect([(d?.json as JsonObject).attempt, (d?.json as JsonObject).id]).toEqual([2, hooks[0]?.id]);
  expect(hooks[0]?.attempts).toEqual([attempt(null, expect.any(String)), attempt(200, null)]);
});

test("callback_url needs WEBHOOK_SECRET; outside WEBHOOK_ALLOWED_PREFIXES it is a 403; nothing is created", async () => {
  const plain = testApp();
  apps.push(plain);
  const r = await receiver();
  const none = await plain.request("/runs", json({ prompt: "x", callback_url: r.url("/hook") }));
  expect([none.status, await readJson(none)]).toEqual([400, expect.objectContaining({ code: "invalid_request", field: "callback_url", error: expect.stringContaining("WEBHOOK_SECRET") })]);
  const a = app({ WEBHOOK_ALLOWED_PREFIXES: r.url("/hooks/") });
  const out = await a.request("/runs", json({ prompt: "x", callback_url: r.url("/other") }));
  expect([out.status, (await readJson(out)).code]).toEqual([403, "callback_not_allowed"]);
  expect((await readJson(await a.request("/runs"))).runs).toEqual([]);
  expect(r.hits).toBe(0);
});

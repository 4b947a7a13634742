// Webhooks across server processes: replicas on one Postgres deliver each run once (retries by any of them), and a server killed mid-attempt loses no delivery.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { agentServerEnv } from "../support/fake-opencode.ts";
import { readJson, type JsonObject } from "../support/http.ts";
import { startPostgres, type PgCluster } from "../support/postgres.ts";
import { SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { waitFor } from "../support/wait.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";

const SECRET = "whsec-replicas-7d3c0a9e15b2";
let pg: PgCluster;
let r: WebhookReceiver;
const spawned: ServerProcess[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  r = await startWebhookReceiver({ secret: SECRET });
});
afterAll(async () => {
  for (const s of spawned) await s.stop("SIGKILL");
  await r?.stop();
  await pg?.stop();
});

const hooks = (extra: Record<string, string> = {}) => ({ WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOWED_PREFIXES: r.url("/"), WEBHOOK_RETRY_BASE: "200ms", LOG_LEVEL: "info", ...extra });

async function spawn(env: Record<string, string>): Promise<ServerProcess> {
  const s = await spawnServer(SOURCE_CMD, env);
  spawned.push(s);
  return s;
}

async function start(s: ServerProcess, prompt: string): Promise<string> {
  const res = await fetch(`${s.url}/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt, callback_url: r.url("/hook") }) });
  expect(res.status).toBe(202);
  return String((await readJson(res)).id);
}

const deliveriesOf = async (s: ServerProcess, id: string) => (await readJson(await fetch(`${s.url}/runs/${id}`))).webhooks as JsonObject[];

test("three replicas on one Postgres: each run's final state is delivered once, failed attempts retried by whichever replica is free", async () => {
  r.reset();
  r.failNext(3, 500);
  const url = await pg.createDatabase();
  const replicas = await Promise.all(["r1", "r2", "r3"].map((id) => spawn(agentServerEnv({ DATABASE_URL: url, REPLICA_ID: id, MAX_CONCURRENT_RUNS: "1", ...hooks() }))));
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push(await start(replicas[i % 3] as ServerProcess, `hello ${i}`));
  await waitFor(() => new Set(r.deliveries.filter((d) => d.answer === "200").map((d) => (d.json as JsonObject).id)).size === 6, { timeoutMs: 60_000, what: "six delivered runs" });
  const ok = r.deliveries.filter((d) => d.answer === "200");
  expect(ok.length).toBe(6);
  expect(new Set(ok.map((d) => ((d.json as JsonObject).run as JsonObject).id))).toEqual(new Set(ids));
  expect(r.deliveries.every((d) => d.signatureValid)).toBe(true);
  // Every replica shows every run's attempts, exactly as the receiver saw them.
  for (const [i, id] of ids.entries()) {
    const seen = await waitFor(async () => {
      const list = await deliveriesOf(replicas[(i + 1) % 3] as ServerProcess, id);
      return list.length === 1 && list[0]?.state === "delivered" ? list : null;
    }, { what: `run ${id}'s delivery as another replica shows it` });
    const got = r.deliveries.filter((d) => ((d.json as JsonObject).run as JsonObject).id === id).map((d) => Number(d.answer));
    expect((seen[0]?.attempts as JsonObject[]).map((a) => a.status_code)).toEqual(got);
  }
  expect(r.deliveries.length).toBe(9);
});

test("a server killed in the middle of an attempt loses nothing: the next process delivers it once the attempt's hold has run out", async () => {
  r.reset();
  r.hangNext(1);
  const env = agentServerEnv(hooks({ WEBHOOK_TIMEOUT: "2s" }));
  const first = await spawn(env);
  const id = await start(first, "hello");
  await waitFor(() => r.hung === 1, { timeoutMs: 20_000, what: "the hanging attempt" });
  await first.stop("SIGKILL");
  const next = await spawn(env);
  // Held for WEBHOOK_TIMEOUT + 10 s by the dead process, then due again.
  const [d] = await r.waitForDeliveries(2, 40_000);
  const delivered = r.deliveries[1];
  expect([delivered?.answer, (delivered?.json as JsonObject).id, ((delivered?.json as JsonObject).run as JsonObject).id]).toEqual(["200", (d?.json as JsonObject).id, id]);
  const list = await waitFor(async () => ((await deliveriesOf(next, id))[0]?.state === "delivered" ? deliveriesOf(next, id) : null), { what: "the delivery recorded" });
  expect(list[0]?.attempts).toEqual([{ at: expect.any(String), status_code: 200, error: null, duration_ms: expect.any(Number) }]);
});

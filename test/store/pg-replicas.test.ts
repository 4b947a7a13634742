// Several PgRunStore instances on one database behave as replicas: one queue, global limits, branch locks, leases, one migration.
import { expect, test } from "bun:test";
import { SQL } from "bun";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { newRunId } from "../../src/runs/ids.ts";
import type { RunRecord } from "../../src/runs/model.ts";
import { PgRunStore } from "../../src/store/pg-store.ts";
import { events, failure, maker, queuedEvents, record, request, succeeded } from "./fixtures.ts";
import { clusterForFile } from "./pg-cluster.ts";

const pg = clusterForFile();
const opened = pg.opened;

async function replicas(n: number, url?: string): Promise<{ url: string; stores: PgRunStore[] }> {
  const db = url ?? (await pg.cluster.createDatabase());
  const stores = await Promise.all(Array.from({ length: n }, () => PgRunStore.open(db, { connectTimeoutMs: 10_000 })));
  opened.push(...stores);
  return { url: db, stores };
}

const started = maker([{ type: "status", status: "running" }]);

type Claimed = Awaited<ReturnType<PgRunStore["claim"]>>;

test("three replicas drain 40 runs over 5 branches: never one branch twice at once, each run once, arrival order kept", async () => {
  const { stores } = await replicas(3);
  const [first] = stores as [PgRunStore];
  const runs = Array.from({ length: 40 }, (_, i) => ({ id: newRunId(), lock: i % 4 === 3 ? null : `repo#b${i % 5}`, arrival: i }));
  for (const r of runs) expect(await first.enqueue(record(r.id, r.arrival), request(`p${r.arrival}`), r.lock, queuedEvents(r.id), 100)).toEqual({ queued: true });

  const holding = new Map<string, number>();
  const claimedBy = new Map<string, string[]>();
  const unlockedOrder = new Map<string, number[]>();
  let overlaps = 0;
  let done = 0;
  const arrival = new Map(runs.map((r) => [r.id, r.arrival]));
  // Two slots per replica, each a loop: claim, "work" (15–35 ms, longer than a claim takes), finish. A replica's
  // claims are made one at a time, as its scheduler makes them, and recorded as each returns: two claims in
  // flight at once could return out of the order the store served them in, which said nothing of the store.
  const slot = async (store: PgRunStore, replica: string, local: Set<string>, claimOne: (fn: () => Promise<Claimed>) => Promise<Claimed>) => {
    while (done < runs.length) {
      const c = await claimOne(async () => {
        const got = await store.claim(replica, Date.now(), Date.now() + 60_000, (lock) => local.has(lock), started);
        if (got && !got.lock) unlockedOrder.set(replica, [...(unlockedOrder.get(replica) ?? []), arrival.get(got.record.id) as number]);
        if (got?.lock) local.add(got.lock);
        return got;
      });
      if (!c) {
        await Bun.sleep(3);
        continue;
      }
      claimedBy.set(c.record.id, [...(claimedBy.get(c.record.id) ?? []), replica]);
      if (c.lock) {
        if ((holding.get(c.lock) ?? 0) > 0) overlaps++;
        holding.set(c.lock, (holding.get(c.lock) ?? 0) + 1);
      }
      await Bun.sleep(15 + Math.random() * 20);
      // Released here before the store frees it: a claim that returns after finish() must see it free.
      if (c.lock) {
        holding.set(c.lock, (holding.get(c.lock) ?? 1) - 1);
        local.delete(c.lock);
      }
      await store.finish(c.record.id, succeeded(c.record.id, Date.now()), events(c.record.id, 2, [{ type: "status", status: "succeeded" }]));
      done++;
    }
  };
  await Promise.all(
    stores.flatMap((store, i) => {
      const local = new Set<string>();
      let last: Promise<unknown> = Promise.resolve();
      const claimOne = (fn: () => Promise<Claimed>): Promise<Claimed> => {
        const next = last.then(fn);
        last = next.catch(() => undefined);
        return next;
      };
      return [slot(store, `r${i}`, local, claimOne), slot(store, `r${i}`, local, claimOne)];
    }),
  );
  console.log("overlaps", overlaps);
  expect(overlaps).toBe(0);
  expect([...claimedBy.values()].every((by) => by.length === 1)).toBe(true);
  expect(claimedBy.size).toBe(40);
  for (const order of unlockedOrder.values()) expect(order).toEqual([...order].sort((a, b) => a - b));
  expect(await first.queuedCount()).toBe(0);
  expect((await first.list({ limit: 100, statuses: ["succeeded"] })).length).toBe(40);
  const spread = [0, 1, 2].map((i) => [...claimedBy.values()].filter((by) => by[0] === `r${i}`).length);
  console.log(`claims per replica: ${spread.join("/")}`);
});

test("MAX_QUEUED_RUNS is global: concurrent admissions from three replicas never exceed it", async () => {
  const { stores } = await replicas(3);
  const results = await Promise.all(stores.flatMap((s, i) => Array.from({ length: 15 }, (_, j) => s.enqueue(record(newRunId(), i * 100 + j), request("p"), null, [], 25))));
  expect(results.filter((r) => r.queued).length).toBe(25);
  expect(results.filter((r) => !r.queued)).toEqual(Array.from({ length: 20 }, () => ({ queued: false, reason: "full", waiting: 25 })));
  expect(await stores[1]?.queuedCount()).toBe(25);
});

test("an Idempotency-Key is taken once across replicas racing with it", async () => {
  const { stores } = await replicas(3);
  const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
  const attempts = keys.flatMap((key) => stores.map((s, i) => ({ key, p: s.enqueue(record(newRunId(), i, { idempotencyKey: key }), request("p"), null, [], 100) })));
  const results = await Promise.all(attempts.map((a) => a.p));
  for (const key of keys) {
    const mine = results.filter((_, i) => attempts[i]?.key === key);
    expect(mine.filter((r) => r.queued).length).toBe(1);
    const winner = (await stores[0]?.byIdempotencyKey(key)) as RunRecord;
    expect(winner.idempotencyKey).toBe(key);
    expect(mine.filter((r) => !r.queued)).toEqual([
      { queued: false, reason: "duplicate", earlier: winner },
      { queued: false, reason: "duplicate", earlier: winner },
    ]);
  }
  expect(await stores[2]?.queuedCount()).toBe(8);
});

test("leases: a run whose lease lapsed is interrupted once by whichever replica looks; the others' runs are theirs", async () => {
  const { stores } = await replicas(3);
  const [a, b, c] = stores as [PgRunStore, PgRunStore, PgRunStore];
  const [dead, alive] = [newRunId(), newRunId()];
  await a.enqueue(record(dead, 1), request("p"), "repo#main", queuedEvents(dead), 10);
  await a.enqueue(record(alive, 2), request("p"), null, queuedEvents(alive), 10);
  const now = Date.now();
  expect((await a.claim("rA", now - 10_000, now - 1, () => false, started))?.record.id).toBe(dead);
  expect((await b.claim("rB", now, now + 60_000, () => false, started))?.record.id).toBe(alive);
  // rC's previous process ran nothing; rA's runs are not rC's to recover.
  const f = { status: "interrupted" as const, code: "interrupted" as const, error: "its replica stopped renewing its lease", at: now };
  const answer = (id: string, requestId: string, model: string | null) => failure(id, requestId, model, f.error);
  const closing = maker([{ type: "status", status: "interrupted" }]);
  expect(await c.recoverRunning("rC", f, answer, closing)).toEqual([]);
  // Two replicas expire at once: the run ends once.
  const both = await Promise.all([b.expireLeases(f, answer, closing), c.expireLeases(f, answer, closing)]);
  expect(both.flat()).toEqual([dead]);
  expect(closing.calls).toEqual([[dead, 2]]);
  expect(await c.get(dead)).toEqual(
    record(dead, 1, { status: "interrupted", code: "interrupted", error: f.error, startedAt: now - 10_000, finishedAt: now, replica: "rA", outcome: answer(dead, `req-${dead}`, null) }),
  );
  expect(await c.events(dead, 2)).toEqual(events(dead, 2, [{ type: "status", status: "interrupted" }]));
  // Its branch is free again; the live run keeps its lease, and renewing reports no cancellation yet.
  expect(await a.renewLeases("rA", [dead], now + 60_000)).toEqual([]);
  expect(await b.renewLeases("rB", [alive], now + 120_000)).toEqual([]);
  await a.requestCancel(alive);
  expect(await b.renewLeases("rB", [alive], now + 120_000)).toEqual([alive]);
  expect(await a.renewLeases("rA", [alive], now + 120_000)).toEqual([]);
  expect((await b.get(alive))?.status).toBe("running");
});

test("two replicas starting on a fresh database at once: both open, the schema is migrated once", async () => {
  const url = await pg.cluster.createDatabase();
  const lines: string[] = [];
  const logger = createLogger({ level: "info", redactor: new Redactor(), sink: (l) => lines.push(l) });
  const stores = await Promise.all([0, 1, 2].map(() => PgRunStore.open(url, { connectTimeoutMs: 10_000, logger })));
  opened.push(...stores);
  expect(lines.filter((l) => l.includes("Postgres schema migrated")).length).toBe(1);
  const raw = new SQL(url, { max: 1 });
  try {
    expect(((await raw`SELECT version FROM schema_migrations ORDER BY version`) as { version: number }[]).map((r) => r.version)).toEqual([1, 2, 3, 4, 5]);
  } finally {
    await raw.close();
  }
  const again = await replicas(1, url);
  expect(await again.stores[0]?.queuedCount()).toBe(0);
});

// Reaching Postgres: a deadline at start-up (never the password in a message), waiting for a late database, surviving a restart.
import { expect, test } from "bun:test";
import { createServer } from "node:net";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { newRunId } from "../../src/runs/ids.ts";
import { StoreError } from "../../src/runs/store.ts";
import { PgRunStore } from "../../src/store/pg-store.ts";
import { listening } from "../support/postgres.ts";
import { waitFor } from "../support/wait.ts";
import { clusterForFile } from "./pg-cluster.ts";
import { queuedEvents, record, request } from "./fixtures.ts";

const pg = clusterForFile();
const opened = pg.opened;

async function closedPort(): Promise<number> {
  return await new Promise<number>((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

test("the constructor connects to nothing; location drops the password", () => {
  const store = new PgRunStore("postgres://app:s3cret-pw@db.example:6543/runs?sslmode=disable&password=other-secret");
  expect(store.location).toBe("postgres://app@db.example:6543/runs?sslmode=disable");
  expect([store.kind, store.shared]).toEqual(["postgres", true]);
});

test("open() against a closed port gives up at the deadline, naming host, port and database, never the password", async () => {
  const port = await closedPort();
  const t0 = Date.now();
  const err = await PgRunStore.open(`postgres://postgres:s3cret-pw@127.0.0.1:${port}/runs`, { connectTimeoutMs: 1500 }).catch((e: unknown) => e);
  const took = Date.now() - t0;
  expect(err).toBeInstanceOf(StoreError);
  const message = (err as StoreError).message;
  expect(message).toContain(`127.0.0.1:${port}/runs`);
  expect(message).not.toContain("s3cret-pw");
  expect(String((err as StoreError).cause)).not.toContain("s3cret-pw");
  expect(took).toBeGreaterThanOrEqual(1400);
  expect(took).toBeLessThan(4000);
  console.log(`open() gave up after ${took} ms: ${message}`);
});

test("open() waits for a database that comes up after it started trying", async () => {
  const url = await pg.cluster.createDatabase();
  await pg.cluster.halt();
  const lines: string[] = [];
  const logger = createLogger({ level: "info", redactor: new Redactor(), sink: (l) => lines.push(l) });
  const opening = PgRunStore.open(url, { connectTimeoutMs: 20_000, logger });
  // Refused attempts first (the retries are what is under test), then the server starts.
  await waitFor(() => lines.filter((l) => l.includes("not reachable yet")).length >= 2, { what: "two refused attempts" });
  await pg.cluster.start();
  const store = await opening;
  opened.push(store);
  expect(await store.queuedCount()).toBe(0);
  expect(lines.some((l) => l.includes("connected to Postgres"))).toBe(true);
  expect(lines.join("\n")).not.toContain("password@");
});

test("Postgres restarts: calls fail with StoreError meanwhile, then work again; watchers hear reconnected()", async () => {
  const url = await pg.cluster.createDatabase();
  const [a, b] = [await PgRunStore.open(url, { connectTimeoutMs: 10_000 }), await PgRunStore.open(url, { connectTimeoutMs: 10_000 })];
  opened.push(a, b);
  let reconnected = 0;
  const heard: string[] = [];
  b.watch({ events: (r) => heard.push(r), queue: () => {}, cancel: () => {}, reconnected: () => reconnected++ });
  await listening(url, 1);
  const id = newRunId();
  await a.enqueue(record(id, 1), request("p"), null, queuedEvents(id), 10);
  await waitFor(() => heard.includes(id), { what: "B listening" });

  await pg.cluster.halt();
  await expect(a.get(id)).rejects.toBeInstanceOf(StoreError);
  await expect(a.enqueue(record(newRunId(), 2), request("p"), null, [], 10)).rejects.toBeInstanceOf(StoreError);
  await expect(a.probe()).rejects.toBeInstanceOf(StoreError);
  await pg.cluster.start();
  // The pool opens new connections by itself: the first call after the restart may still meet a dead one.
  await waitFor(() => a.probe().then(() => true, () => false), { what: "the store writable again", timeoutMs: 20_000 });
  expect((await a.get(id))?.status).toBe("queued");
  await waitFor(() => reconnected > 0, { what: "reconnected() on B", timeoutMs: 40_000 });
  const after = newRunId();
  await a.enqueue(record(after, 3), request("p"), null, queuedEvents(after), 10);
  await waitFor(() => heard.includes(after), { what: "an announcement after the restart" });
});

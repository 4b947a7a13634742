// What only the SQLite store has: WAL on disk, migration of an existing file, and the no-ops of a store nobody shares.
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import path from "node:path";
import { newRunId } from "../../src/runs/ids.ts";
import type { RunStore } from "../../src/runs/store.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { tempDir } from "../support/temp.ts";
import { failure, noop, queuedEvents, record, request } from "./fixtures.ts";

const file = () => path.join(tempDir("ocs-sqlite-"), "runs.db");

test("WAL mode is on while open; a clean close checkpoints and removes the WAL file", async () => {
  const f = file();
  const store = new SqliteRunStore(f);
  expect([store.kind, store.shared, store.location]).toEqual(["sqlite", false, f]);
  const id = newRunId();
  await store.enqueue(record(id, 1), request("p"), null, queuedEvents(id), 10);
  expect(existsSync(`${f}-wal`)).toBe(true);
  await store.close();
  expect(existsSync(`${f}-wal`)).toBe(false);
});

test("a database from before replicas (schema 2) gains the replica column, its runs kept", async () => {
  const f = file();
  const id = newRunId();
  const store = new SqliteRunStore(f);
  await store.enqueue(record(id, 1), request("p"), "repo#main", queuedEvents(id), 10);
  await store.close();
  // Back to what version 2 wrote.
  const raw = new Database(f);
  raw.exec("DROP INDEX runs_by_owner; ALTER TABLE runs DROP COLUMN owner;");
  raw.exec("DROP TABLE diffs; ALTER TABLE runs DROP COLUMN title;");
  raw.exec("DROP TABLE deliveries; ALTER TABLE runs DROP COLUMN pull_request; ALTER TABLE runs DROP COLUMN webhooks;");
  raw.exec("DROP TABLE continuations; DROP INDEX runs_by_thread; DROP INDEX runs_by_parent; ALTER TABLE runs DROP COLUMN parent_id; ALTER TABLE runs DROP COLUMN thread_id; ALTER TABLE runs DROP COLUMN limits;");
  raw.exec("ALTER TABLE runs DROP COLUMN replica; PRAGMA user_version = 2;");
  raw.close();
  const reopened = new SqliteRunStore(f);
  expect(await reopened.get(id)).toEqual(record(id, 1, { title: null }));
  expect((await reopened.claim("r9", 5, 0, () => false, () => []))?.record).toEqual(record(id, 1, { title: null, status: "running", startedAt: 5, replica: "r9" }));
  await reopened.close();
  const check = new Database(f, { readonly: true });
  expect(check.query("PRAGMA user_version").get()).toEqual({ user_version: 7 });
  check.close();
});

test("alone on its file: leases never lapse, cancellations and announcements are the process's own business", async () => {
  const store: RunStore = new SqliteRunStore(file());
  const id = newRunId();
  await store.enqueue(record(id, 1), request("p"), null, [], 10);
  await store.claim("r1", 2, 3, () => false, () => []);
  const f = { status: "interrupted" as const, code: "interrupted" as const, error: "x", at: 1_000_000 };
  expect(await store.expireLeases(f, (i, r, m) => failure(i, r, m, "x"), () => [])).toEqual([]);
  expect(await store.renewLeases("r1", [id], 10)).toEqual([]);
  await store.requestCancel(id);
  expect((await store.get(id))?.status).toBe("running");
  const stop = store.watch({ events: noop, queue: noop, cancel: noop, reconnected: noop });
  stop();
  await store.close();
});

test("a failure inside a call is a rejected StoreError, never a synchronous throw", async () => {
  const store = new SqliteRunStore(file());
  await store.close();
  let threw = false;
  let pending: Promise<unknown> | null = null;
  try {
    pending = store.queuedCount();
  } catch {
    threw = true;
  }
  expect(threw).toBe(false);
  await expect(pending).rejects.toMatchObject({ name: "StoreError", operation: "count queued runs" });
});

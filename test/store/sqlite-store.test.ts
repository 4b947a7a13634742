// What only the SQLite store has: WAL on disk, migration of an existing file, and the no-ops of a store nobody shares.
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import path from "node:path";
import { PIECE_CHARS } from "../../src/lib/json-pieces.ts";
import { newRunId } from "../../src/runs/ids.ts";
import type { RunStore } from "../../src/runs/store.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { tempDir } from "../support/temp.ts";
import { failure, noop, outcome, queuedEvents, record, request, TIME } from "./fixtures.ts";

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
  raw.exec("DROP TABLE answer_pieces; ALTER TABLE runs DROP COLUMN answer_pieces;");
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
  expect(check.query("PRAGMA user_version").get()).toEqual({ user_version: 8 });
  check.close();
});

test("a long answer is written a piece at a time: the row holds the first, answer_pieces the rest, in order", async () => {
  const f = file();
  const store = new SqliteRunStore(f);
  const id = newRunId();
  await store.enqueue(record(id, 1), request("p"), null, [], 10);
  const answer = outcome(id, "x\n".repeat(PIECE_CHARS));
  await store.finish(id, { status: "succeeded", code: null, error: null, at: 2, outcome: answer }, []);
  const raw = new Database(f, { readonly: true });
  const row = raw.query("SELECT answer, answer_pieces FROM runs WHERE id = ?").get(id) as { answer: string; answer_pieces: number };
  const pieces = (raw.query("SELECT n, text FROM answer_pieces WHERE run_id = ? ORDER BY n").all(id) as { n: number; text: string }[]).map((p) => p.text);
  raw.close();
  expect(row.answer).toBe('{"success":true,"error":null,"output":"');
  // Two slices of PIECE_CHARS characters (each "\n" escaped to two), then the rest of the answer.
  expect([row.answer_pieces, pieces.length, pieces[0]?.length]).toEqual([3, 3, PIECE_CHARS + PIECE_CHARS / 2]);
  expect(row.answer + pieces.join("")).toBe(JSON.stringify(answer));
  expect((await store.get(id))?.outcome).toEqual(answer);
  await store.close();
});

test("an end written again replaces the first, short or long, and the short one leaves no pieces", async () => {
  const f = file();
  const store = new SqliteRunStore(f);
  const id = newRunId();
  await store.enqueue(record(id, 1), request("p"), null, [], 10);
  const long = outcome(id, "y".repeat(PIECE_CHARS * 2));
  const short = outcome(id, "done");
  const pieces = () => {
    const raw = new Database(f, { readonly: true });
    const n = (raw.query("SELECT count(*) AS n FROM answer_pieces WHERE run_id = ?").get(id) as { n: number }).n;
    const row = raw.query("SELECT answer_pieces FROM runs WHERE id = ?").get(id) as { answer_pieces: number | null };
    raw.close();
    return [n, row.answer_pieces];
  };
  const end = { status: "succeeded" as const, code: null, error: null, at: 2 };
  await store.finish(id, { ...end, outcome: long }, []);
  expect([pieces(), (await store.get(id))?.outcome]).toEqual([[3, 3], long]);
  await store.finish(id, { ...end, outcome: short }, []);
  expect([pieces(), (await store.get(id))?.outcome]).toEqual([[0, null], short]);
  await store.finish(id, { ...end, outcome: long }, []);
  expect([pieces(), (await store.get(id))?.outcome]).toEqual([[3, 3], long]);
  await store.close();
});

test("a database from before answer pieces (schema 7): its answers, stored whole, read as they were", async () => {
  const f = file();
  const id = newRunId();
  const store = new SqliteRunStore(f);
  await store.enqueue(record(id, 1), request("p"), null, queuedEvents(id), 10);
  await store.close();
  const answer = outcome(id, "é😀\n".repeat(PIECE_CHARS));
  // What version 7 wrote: the answer whole in its column, the result event without it.
  const raw = new Database(f);
  raw.exec("DROP TABLE answer_pieces; ALTER TABLE runs DROP COLUMN answer_pieces; PRAGMA user_version = 7;");
  raw.query("UPDATE runs SET status = 'succeeded', finished_at = 2, answer = ? WHERE id = ?").run(JSON.stringify(answer), id);
  raw.query("INSERT INTO events (run_id, seq, type, data, time) VALUES (?, 2, 'result', ?, ?)").run(id, JSON.stringify({ status: "succeeded" }), Date.parse(TIME));
  raw.close();
  const reopened = new SqliteRunStore(f);
  expect(await reopened.get(id)).toEqual(record(id, 1, { status: "succeeded", finishedAt: 2, outcome: answer }));
  expect((await reopened.events(id, 1)).map((e) => (e.type === "result" ? e.answer : null))).toEqual([answer]);
  await reopened.close();
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

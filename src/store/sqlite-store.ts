// The run store in SQLite (bun:sqlite, WAL) for one server process: runs, their events and the durable queue; any failure is a StoreError.
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { QueuedRequest, type RunEvent, type RunRecord } from "../runs/model.ts";
import { StoreError, type Claimed, type Enqueued, type EventMaker, type Finish, type ListQuery, type RunDiff, type RunStore } from "../runs/store.ts";
import type { Delivery, DeliveryAttempt, DeliveryState } from "../webhooks/model.ts";
import { answerOf, eventOf, extrasColumns, limitsColumn, recordOf, storedEvent, type EventColumns, type RunColumns } from "./rows.ts";
import * as answers from "./sqlite-answers.ts";
import * as outbox from "./sqlite-deliveries.ts";
import { migrate } from "./sqlite-schema.ts";
import * as threads from "./sqlite-thread.ts";

/** `answer_pieces`: how many pieces of the answer follow `answer` in the answer_pieces table (null: none). */
type RunRow = Omit<RunColumns, "push"> & { push: number | null; answer_pieces: number | null };
type Recover = Parameters<RunStore["recoverRunning"]>;

/**
 * The methods are async for the interface's sake; the work inside each is synchronous, so one call's reads
 * and writes never interleave with another's (the single process is the only writer).
 */
export class SqliteRunStore implements RunStore {
  readonly kind = "sqlite";
  readonly shared = false;
  private readonly db: Database;
  private readonly statements: Statement[] = [];
  private readonly insertEvent: Statement;
  private readonly insertRunRow: Statement;
  private readonly insertDeliveries: Statement;
  private readonly subscribed: outbox.Subscribed;
  private readonly selectRun: Statement<RunRow, [string]>;
  private readonly selectLastSeq: Statement<{ seq: number }, [string]>;
  /** Made once: bun:sqlite builds a new wrapper (its properties defined) on every transaction() call — ~10–30 µs of a run's start. */
  private readonly inTxn: (fn: () => unknown) => unknown;

  constructor(readonly location: string) {
    if (location !== ":memory:") mkdirSync(path.dirname(location), { recursive: true, mode: 0o700 });
    this.db = new Database(location, { create: true, strict: true });
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;");
    migrate(this.db);
    this.insertEvent = this.prepare("INSERT OR IGNORE INTO events (run_id, seq, type, data, time) VALUES (?, ?, ?, ?, ?)");
    this.insertDeliveries = this.prepare(outbox.INSERT_DELIVERIES);
    this.subscribed = new outbox.Subscribed(this.prepare("SELECT webhooks IS NOT NULL AS w FROM runs WHERE id = ?"));
    this.selectRun = this.prepare("SELECT * FROM runs WHERE id = ?") as Statement<RunRow, [string]>;
    this.selectLastSeq = this.prepare("SELECT coalesce(max(seq), 0) AS seq FROM events WHERE run_id = ?") as Statement<{ seq: number }, [string]>;
    // Prepared here, not looked up by its text on every run's start.
    this.insertRunRow = this.prepare(
      `INSERT INTO runs (id, request_id, status, created_at, started_at, idempotency_key, fingerprint, prompt_chars, title, model, agent, repository, branch, base, push, replica, parent_id, thread_id, limits, pull_request, webhooks, owner)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.inTxn = this.db.transaction((fn: () => unknown) => fn());
  }

  private prepare(sql: string): Statement {
    const s = this.db.prepare(sql);
    this.statements.push(s);
    return s;
  }

  /** Every call: one place turns whatever SQLite throws (SQLITE_FULL, I/O errors) into a rejected StoreError. */
  private async guard<T>(operation: string, fn: () => T): Promise<T> {
    try {
      return fn();
    } catch (err) {
      throw err instanceof StoreError ? err : new StoreError(operation, err);
    }
  }

  private txn<T>(fn: () => T): T {
    return this.inTxn(fn) as T;
  }

  /** Stored numbers are skipped (INSERT OR IGNORE): a retry after a lost answer writes nothing twice. A status change makes its webhook deliveries here. */
  private writeEvents(events: readonly RunEvent[]): void {
    for (const e of events) {
      const s = storedEvent(e);
      this.insertEvent.run(s.runId, s.seq, s.type, s.data, s.time);
      outbox.writeDeliveries(this.insertDeliveries, e, s.time, this.subscribed.has);
      if (e.type === "result") this.subscribed.forget(e.run_id);
    }
  }

  private lastSeqOf(id: string): number {
    return (this.selectLastSeq.get(id) as { seq: number }).seq;
  }

  enqueue(record: RunRecord, request: QueuedRequest, lock: string | null, events: readonly RunEvent[], maxQueued: number): Promise<Enqueued> {
    return this.guard("queue a run", () =>
      this.txn((): Enqueued => {
        // The key is checked before the room: a retried request gets its run back even when the queue is full.
        const earlier = record.idempotencyKey === null ? null : this.byKey(record.idempotencyKey);
        if (earlier) return { queued: false, reason: "duplicate", earlier };
        const waiting = (this.db.query("SELECT count(*) AS n FROM queue").get() as { n: number }).n;
        if (waiting >= maxQueued) return { queued: false, reason: "full", waiting };
        this.insertRun(record);
        this.db.query("INSERT INTO queue (run_id, lock_key, request) VALUES (?, ?, ?)").run(record.id, lock, JSON.stringify(request));
        this.writeEvents(events);
        return { queued: true };
      }),
    );
  }

  insertRunning(record: RunRecord, events: readonly RunEvent[]): Promise<void> {
    return this.guard("start a run", () =>
      this.txn(() => {
        this.insertRun(record);
        this.writeEvents(events);
      }),
    );
  }

  private insertRun(r: RunRecord): void {
    const extras = extrasColumns(r);
    this.subscribed.set(r.id, extras.webhooks !== null);
    this.insertRunRow.run(r.id, r.requestId, r.status, r.createdAt, r.startedAt, r.idempotencyKey, r.fingerprint, r.promptChars, r.title, r.model, r.agent, r.repository, r.branch, r.base, r.push === null ? null : Number(r.push), r.replica, r.parentId, r.threadId, limitsColumn(r), extras.pullRequest, extras.webhooks, r.owner);
  }

  /** One process: its `busy` locks are all there is, and no lease can lapse while it lives (leaseUntil is not stored). */
  claim(replica: string, at: number, _leaseUntil: number, busy: (lock: string) => boolean, startEvents: EventMaker): Promise<Claimed | null> {
    // Calls are synchronous inside, so the run chosen here is still queued in the transaction; an empty queue
    // costs one read and no transaction. Prompts can be megabytes: only the chosen run's request is read, as
    // its queue row is deleted.
    return this.guard("start a queued run", () => {
      const waiting = this.db.query("SELECT run_id, lock_key FROM queue ORDER BY position").all() as { run_id: string; lock_key: string | null }[];
      const chosen = waiting.find((q) => q.lock_key === null || !busy(q.lock_key));
      if (!chosen) return null;
      return this.txn(() => {
        const taken = this.db.query("DELETE FROM queue WHERE run_id = ? RETURNING request").get(chosen.run_id) as { request: string } | null;
        if (!taken) return null;
        const row = this.db.query("UPDATE runs SET status = 'running', started_at = ?, replica = ? WHERE id = ? RETURNING *").get(at, replica, chosen.run_id) as RunRow;
        this.writeEvents(startEvents(chosen.run_id, this.lastSeqOf(chosen.run_id)));
        return { record: this.toRecord(row), request: QueuedRequest.parse(JSON.parse(taken.request)), lock: chosen.lock_key };
      });
    });
  }

  nextQueued(): Promise<string | null> {
    return this.guard("read the queue", () => (this.db.query("SELECT run_id FROM queue ORDER BY position LIMIT 1").get() as { run_id: string } | null)?.run_id ?? null);
  }

  queuedCount(): Promise<number> {
    return this.guard("count queued runs", () => (this.db.query("SELECT count(*) AS n FROM queue").get() as { n: number }).n);
  }

  queuePosition(id: string): Promise<number | null> {
    return this.guard("read a queue position", () => {
      const row = this.db.query("SELECT (SELECT count(*) FROM queue q WHERE q.position <= queue.position) AS n FROM queue WHERE run_id = ?").get(id) as { n: number } | null;
      return row ? row.n : null;
    });
  }

  appendEvents(events: readonly RunEvent[]): Promise<void> {
    return this.guard("record an event", () => this.txn(() => this.writeEvents(events)));
  }

  private end(id: string, f: Finish): void {
    answers.writeEnd(this.db, id, f);
  }

  private toRecord(row: RunRow): RunRecord {
    return recordOf({ ...row, push: row.push === null ? null : row.push === 1, answer: answers.answerText(this.db, row.id, row.answer, row.answer_pieces) });
  }

  finish(id: string, f: Finish, events: readonly RunEvent[]): Promise<void> {
    return this.guard("finish a run", () =>
      this.txn(() => {
        this.end(id, f);
        if (f.diff) this.db.query("INSERT OR REPLACE INTO diffs (run_id, diff, truncated) VALUES (?, ?, ?)").run(id, f.diff.text, Number(f.diff.truncated));
        this.db.query("DELETE FROM queue WHERE run_id = ?").run(id);
        this.writeEvents(events);
      }),
    );
  }

  finishQueued(id: string, f: Finish, events: EventMaker): Promise<boolean> {
    return this.guard("end a queued run", () =>
      this.txn(() => {
        if (!this.db.query("DELETE FROM queue WHERE run_id = ? RETURNING run_id").get(id)) return false;
        this.end(id, f);
        this.writeEvents(events(id, this.lastSeqOf(id)));
        return true;
      }),
    );
  }

  get(id: string): Promise<RunRecord | null> {
    return this.guard("read a run", () => {
      const row = this.selectRun.get(id);
      return row ? this.toRecord(row) : null;
    });
  }

  private byKey(key: string): RunRecord | null {
    const row = this.db.query("SELECT * FROM runs WHERE idempotency_key = ?").get(key) as RunRow | null;
    return row ? this.toRecord(row) : null;
  }

  byIdempotencyKey(key: string): Promise<RunRecord | null> {
    return this.guard("read a run", () => this.byKey(key));
  }

  list(q: ListQuery): Promise<RunRecord[]> {
    return this.guard("list runs", () => {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (q.statuses && q.statuses.length > 0) {
        where.push(`status IN (${q.statuses.map(() => "?").join(", ")})`);
        args.push(...q.statuses);
      }
      if (q.owner !== undefined) {
        where.push("owner = ?");
        args.push(q.owner);
      }
      if (q.before) {
        where.push("(created_at < ? OR (created_at = ? AND id < ?))");
        args.push(q.before.createdAt, q.before.createdAt, q.before.id);
      }
      const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id DESC LIMIT ?`;
      return (this.db.query(sql).all(...args, q.limit) as RunRow[]).map((row) => this.toRecord(row));
    });
  }

  events(id: string, afterSeq: number): Promise<RunEvent[]> {
    return this.guard("read events", () => {
      const rows = this.db.query("SELECT seq, type, data, time FROM events WHERE run_id = ? AND seq > ? ORDER BY seq").all(id, afterSeq) as EventColumns[];
      const answer = () => {
        const row = this.db.query("SELECT answer, answer_pieces FROM runs WHERE id = ?").get(id) as Pick<RunRow, "answer" | "answer_pieces"> | null;
        return answerOf(row ? answers.answerText(this.db, id, row.answer, row.answer_pieces) : null);
      };
      return rows.map((row) => eventOf(id, row, answer));
    });
  }

  lastSeq(id: string): Promise<number> {
    return this.guard("read events", () => this.lastSeqOf(id));
  }

  /** One process per database: every running run was this replica's, whatever its id was then. */
  recoverRunning(_replica: string, f: Recover[1], outcome: Recover[2], closing: Recover[3]): Promise<string[]> {
    return this.guard("recover runs", () =>
      this.txn(() => {
        const runs = this.db.query("SELECT id, request_id, model FROM runs WHERE status = 'running'").all() as { id: string; request_id: string; model: string | null }[];
        for (const run of runs) {
          this.end(run.id, { ...f, outcome: outcome(run.id, run.request_id, run.model) });
          this.writeEvents(closing(run.id, this.lastSeqOf(run.id)));
        }
        return runs.map((r) => r.id);
      }),
    );
  }

  // One process: no lease can lapse while it lives, the one asking for a cancellation stops the run itself,
  // and nobody else writes, so there is nothing to announce.
  expireLeases = async (): Promise<string[]> => [];
  renewLeases = async (): Promise<string[]> => [];
  requestCancel = async (): Promise<void> => {};
  watch = (): (() => void) => () => {};

  saveContinuation(id: string, data: Uint8Array): Promise<void> {
    return this.guard("keep a run's session", () => threads.saveContinuation(this.db, id, data));
  }

  loadContinuation(id: string): Promise<Uint8Array | null> {
    return this.guard("read a run's session", () => threads.loadContinuation(this.db, id));
  }

  hasContinuation(id: string): Promise<boolean> {
    return this.guard("read a run's session", () => threads.hasContinuation(this.db, id));
  }

  diff(id: string): Promise<RunDiff | null> {
    return this.guard("read a run's diff", () => threads.readDiff(this.db, id));
  }

  hasDiff(id: string): Promise<boolean> {
    return this.guard("read a run's diff", () => threads.hasDiff(this.db, id));
  }

  thread(threadId: string, limit: number, after?: { createdAt: number; id: string }, owner?: string): Promise<RunRecord[]> {
    return this.guard("list a thread", () => {
      const a = after ?? { createdAt: -1, id: "" };
      const mine = owner === undefined ? "" : "AND owner = ?";
      const sql = `SELECT * FROM runs WHERE ${threads.THREAD_WHERE} ${mine} AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?`;
      const args = owner === undefined ? [threadId, threadId] : [threadId, threadId, owner];
      return (this.db.query(sql).all(...args, a.createdAt, a.createdAt, a.id, limit) as RunRow[]).map((row) => this.toRecord(row));
    });
  }

  children(id: string): Promise<string[]> {
    return this.guard("list a run's follow-ups", () => threads.children(this.db, id));
  }

  prune(before: number): Promise<number> {
    return this.guard("prune runs", () => threads.prune(this.db, before));
  }

  dueDeliveries(now: number, limit: number, after?: { nextAt: number; id: string }): Promise<Delivery[]> {
    return this.guard("read due webhook deliveries", () => outbox.dueDeliveries(this.db, now, limit, after));
  }

  moveDelivery(id: string, from: number, to: number): Promise<boolean> {
    return this.guard("take a webhook delivery", () => outbox.moveDelivery(this.db, id, from, to));
  }

  recordAttempt(id: string, attempt: DeliveryAttempt, next: { state: DeliveryState; nextAt: number | null }): Promise<void> {
    return this.guard("record a webhook attempt", () => outbox.recordAttempt(this.db, id, attempt, next));
  }

  deliveries(runId: string): Promise<Delivery[]> {
    return this.guard("read a run's webhook deliveries", () => outbox.deliveries(this.db, runId));
  }

  probe(): Promise<void> {
    return this.guard("write", () => {
      this.db.query("INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at").run(Date.now());
    });
  }

  /** Finalizes statements first, so SQLite checkpoints and removes the WAL file on a clean shutdown. */
  close(): Promise<void> {
    return this.guard("close", () => {
      for (const statement of this.statements) statement.finalize();
      this.db.close();
    });
  }
}

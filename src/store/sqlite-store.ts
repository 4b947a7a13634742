// The run store in SQLite (bun:sqlite, WAL): runs, their events and the durable queue, as domain types; any failure is a StoreError.
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { FINAL_STATUSES, QueuedRequest, RunOutcome, type RunEvent, type RunRecord } from "../runs/model.ts";
import { StoreError, type Claimed, type Finish, type ListQuery, type RunStore } from "../runs/store.ts";
import { migrate } from "./sqlite-schema.ts";

interface RunRow {
  id: string;
  request_id: string;
  status: RunRecord["status"];
  code: RunRecord["code"];
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  idempotency_key: string | null;
  fingerprint: string | null;
  prompt_chars: number;
  model: string | null;
  agent: string | null;
  repository: string | null;
  branch: string | null;
  base: string | null;
  push: number | null;
  answer: string | null;
}

interface EventRow {
  seq: number;
  type: string;
  data: string;
  time: number;
}

function recordOf(row: RunRow): RunRecord {
  return {
    id: row.id,
    requestId: row.request_id,
    status: row.status,
    code: row.code,
    error: row.error,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    idempotencyKey: row.idempotency_key,
    fingerprint: row.fingerprint,
    promptChars: row.prompt_chars,
    model: row.model,
    agent: row.agent,
    repository: row.repository,
    branch: row.branch,
    base: row.base,
    push: row.push === null ? null : row.push === 1,
    outcome: row.answer === null ? null : RunOutcome.parse(JSON.parse(row.answer)),
  };
}

export class SqliteRunStore implements RunStore {
  private readonly db: Database;
  private readonly statements: Statement[] = [];
  private readonly insertEvent: Statement;
  private readonly selectRun: Statement<RunRow, [string]>;

  constructor(readonly location: string) {
    if (location !== ":memory:") mkdirSync(path.dirname(location), { recursive: true, mode: 0o700 });
    this.db = new Database(location, { create: true, strict: true });
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;");
    migrate(this.db);
    this.insertEvent = this.prepare("INSERT INTO events (run_id, seq, type, data, time) VALUES (?, ?, ?, ?, ?)");
    this.selectRun = this.prepare("SELECT * FROM runs WHERE id = ?") as Statement<RunRow, [string]>;
  }

  private prepare(sql: string): Statement {
    const s = this.db.prepare(sql);
    this.statements.push(s);
    return s;
  }

  /** Every call: one place turns whatever SQLite throws (SQLITE_FULL, I/O errors) into a StoreError. */
  private guard<T>(operation: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw err instanceof StoreError ? err : new StoreError(operation, err);
    }
  }

  private writeEvents(events: readonly RunEvent[]): void {
    for (const e of events) {
      const { run_id: runId, seq, time, type, ...data } = e;
      // A result's answer is on the run row already (it can be MAX_OUTPUT_SIZE long): reading puts it back.
      const stored = type === "result" ? { ...data, answer: undefined } : data;
      this.insertEvent.run(runId, seq, type, JSON.stringify(stored), Date.parse(time));
    }
  }

  enqueue(record: RunRecord, request: QueuedRequest, lock: string | null, events: readonly RunEvent[]): void {
    this.guard("queue a run", () =>
      this.db.transaction(() => {
        this.insertRun(record);
        this.db.query("INSERT INTO queue (run_id, lock_key, request) VALUES (?, ?, ?)").run(record.id, lock, JSON.stringify(request));
        this.writeEvents(events);
      })(),
    );
  }

  insertRunning(record: RunRecord, events: readonly RunEvent[]): void {
    this.guard("start a run", () =>
      this.db.transaction(() => {
        this.insertRun(record);
        this.writeEvents(events);
      })(),
    );
  }

  private insertRun(r: RunRecord): void {
    this.db
      .query(
        `INSERT INTO runs (id, request_id, status, created_at, started_at, idempotency_key, fingerprint, prompt_chars, model, agent, repository, branch, base, push)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(r.id, r.requestId, r.status, r.createdAt, r.startedAt, r.idempotencyKey, r.fingerprint, r.promptChars, r.model, r.agent, r.repository, r.branch, r.base, r.push === null ? null : Number(r.push));
  }

  claim(at: number, busy: (lock: string) => boolean, startEvents?: (runId: string) => readonly RunEvent[]): Claimed | null {
    // One process owns this database and calls are synchronous, so the run chosen here is still queued in
    // the transaction; an empty queue costs one read and no transaction. Prompts can be megabytes: only the
    // chosen run's request is read, as its queue row is deleted.
    return this.guard("start a queued run", () => {
      const waiting = this.db.query("SELECT run_id, lock_key FROM queue ORDER BY position").all() as { run_id: string; lock_key: string | null }[];
      const chosen = waiting.find((q) => q.lock_key === null || !busy(q.lock_key));
      if (!chosen) return null;
      return this.db.transaction(() => {
        const taken = this.db.query("DELETE FROM queue WHERE run_id = ? RETURNING request").get(chosen.run_id) as { request: string } | null;
        if (!taken) return null;
        const row = this.db.query("UPDATE runs SET status = 'running', started_at = ? WHERE id = ? RETURNING *").get(at, chosen.run_id) as RunRow;
        if (startEvents) this.writeEvents(startEvents(chosen.run_id));
        return { record: recordOf(row), request: QueuedRequest.parse(JSON.parse(taken.request)), lock: chosen.lock_key };
      })();
    });
  }

  nextQueued(): string | null {
    return this.guard("read the queue", () => (this.db.query("SELECT run_id FROM queue ORDER BY position LIMIT 1").get() as { run_id: string } | null)?.run_id ?? null);
  }

  queuedCount(): number {
    return this.guard("count queued runs", () => (this.db.query("SELECT count(*) AS n FROM queue").get() as { n: number }).n);
  }

  queuePosition(id: string): number | null {
    return this.guard("read a queue position", () => {
      const row = this.db.query("SELECT (SELECT count(*) FROM queue q WHERE q.position <= queue.position) AS n FROM queue WHERE run_id = ?").get(id) as { n: number } | null;
      return row ? row.n : null;
    });
  }

  appendEvents(events: readonly RunEvent[]): void {
    this.guard("record an event", () => this.db.transaction(() => this.writeEvents(events))());
  }

  finish(id: string, f: Finish, events: readonly RunEvent[]): void {
    this.guard("finish a run", () =>
      this.db.transaction(() => {
        this.db.query("UPDATE runs SET status = ?, code = ?, error = ?, finished_at = ?, answer = ? WHERE id = ?").run(f.status, f.code, f.error, f.at, JSON.stringify(f.outcome), id);
        this.db.query("DELETE FROM queue WHERE run_id = ?").run(id);
        this.writeEvents(events);
      })(),
    );
  }

  get(id: string): RunRecord | null {
    return this.guard("read a run", () => {
      const row = this.selectRun.get(id);
      return row ? recordOf(row) : null;
    });
  }

  byIdempotencyKey(key: string): RunRecord | null {
    return this.guard("read a run", () => {
      const row = this.db.query("SELECT * FROM runs WHERE idempotency_key = ?").get(key) as RunRow | null;
      return row ? recordOf(row) : null;
    });
  }

  list(q: ListQuery): RunRecord[] {
    return this.guard("list runs", () => {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (q.statuses && q.statuses.length > 0) {
        where.push(`status IN (${q.statuses.map(() => "?").join(", ")})`);
        args.push(...q.statuses);
      }
      if (q.before) {
        where.push("(created_at < ? OR (created_at = ? AND id < ?))");
        args.push(q.before.createdAt, q.before.createdAt, q.before.id);
      }
      const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id DESC LIMIT ?`;
      return (this.db.query(sql).all(...args, q.limit) as RunRow[]).map(recordOf);
    });
  }

  events(id: string, afterSeq: number): RunEvent[] {
    return this.guard("read events", () => {
      const rows = this.db.query("SELECT seq, type, data, time FROM events WHERE run_id = ? AND seq > ? ORDER BY seq").all(id, afterSeq) as EventRow[];
      let answer: unknown;
      return rows.map((e) => {
        const data = JSON.parse(e.data) as Record<string, unknown>;
        if (e.type === "result") data.answer = answer ??= (this.get(id)?.outcome ?? null);
        return { ...data, type: e.type, run_id: id, seq: e.seq, time: new Date(e.time).toISOString() } as RunEvent;
      });
    });
  }

  lastSeq(id: string): number {
    return this.guard("read events", () => (this.db.query("SELECT coalesce(max(seq), 0) AS seq FROM events WHERE run_id = ?").get(id) as { seq: number }).seq);
  }

  recoverRunning(at: number, reason: string): string[] {
    return this.guard("recover runs", () =>
      this.db.transaction(() => {
        const ids = (this.db.query("SELECT id FROM runs WHERE status = 'running'").all() as { id: string }[]).map((r) => r.id);
        const update = this.db.query("UPDATE runs SET status = 'interrupted', code = 'interrupted', error = ?, finished_at = ? WHERE id = ?");
        for (const id of ids) update.run(reason, at, id);
        return ids;
      })(),
    );
  }

  prune(before: number): number {
    return this.guard("prune runs", () => {
      const finals = FINAL_STATUSES.map(() => "?").join(", ");
      return this.db.query(`DELETE FROM runs WHERE status IN (${finals}) AND coalesce(finished_at, created_at) < ?`).run(...FINAL_STATUSES, before).changes;
    });
  }

  probe(): void {
    this.guard("write", () => this.db.query("INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at").run(Date.now()));
  }

  /** Finalizes statements first, so SQLite checkpoints and removes the WAL file on a clean shutdown. */
  close(): void {
    for (const statement of this.statements) statement.finalize();
    this.db.close();
  }
}

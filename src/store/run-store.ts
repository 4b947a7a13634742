// Runs and their events in SQLite (bun:sqlite, WAL): what was asked, where it is, how it ended — never the prompt itself.
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import path from "node:path";

export type StoredStatus = "queued" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled" | "interrupted";
export const FINAL_STATUSES: readonly StoredStatus[] = ["succeeded", "failed", "timed_out", "cancelled", "interrupted"];

export interface RunRow {
  id: string;
  request_id: string;
  status: StoredStatus;
  code: string | null;
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
  /** The run's answer (the JSON /run would send), once finished. */
  answer: string | null;
  http_status: number | null;
}

export type NewRun = Pick<
  RunRow,
  "id" | "request_id" | "created_at" | "idempotency_key" | "fingerprint" | "prompt_chars" | "model" | "agent" | "repository" | "branch" | "base" | "push"
>;

export interface EventRow {
  seq: number;
  type: string;
  data: string;
  time: number;
}

export interface ListQuery {
  statuses?: readonly StoredStatus[];
  limit: number;
  /** Only runs strictly older than this (created_at, id) position: keyset pagination, newest first. */
  before?: { createdAt: number; id: string };
}

const MIGRATIONS = [
  `CREATE TABLE runs (
     id TEXT PRIMARY KEY,
     request_id TEXT NOT NULL,
     status TEXT NOT NULL,
     code TEXT,
     error TEXT,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     idempotency_key TEXT UNIQUE,
     fingerprint TEXT,
     prompt_chars INTEGER NOT NULL,
     model TEXT,
     agent TEXT,
     repository TEXT,
     branch TEXT,
     base TEXT,
     push INTEGER,
     answer TEXT,
     http_status INTEGER
   );
   CREATE INDEX runs_by_time ON runs (created_at DESC, id DESC);
   CREATE INDEX runs_by_status ON runs (status, created_at DESC);
   CREATE TABLE events (
     run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     type TEXT NOT NULL,
     data TEXT NOT NULL,
     time INTEGER NOT NULL,
     PRIMARY KEY (run_id, seq)
   ) WITHOUT ROWID;`,
];

export class RunStore {
  private readonly db: Database;
  private readonly insertRun: Statement;
  private readonly insertEvent: Statement;
  private readonly selectRun: Statement<RunRow, [string]>;
  private readonly selectByKey: Statement<RunRow, [string]>;
  private readonly selectEvents: Statement<EventRow, [string, number]>;

  constructor(readonly file: string) {
    if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file, { create: true, strict: true });
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;");
    this.migrate();
    this.insertRun = this.db.prepare(
      `INSERT INTO runs (id, request_id, status, created_at, idempotency_key, fingerprint, prompt_chars, model, agent, repository, branch, base, push)
       VALUES ($id, $request_id, 'queued', $created_at, $idempotency_key, $fingerprint, $prompt_chars, $model, $agent, $repository, $branch, $base, $push)`,
    );
    this.insertEvent = this.db.prepare("INSERT INTO events (run_id, seq, type, data, time) VALUES (?, ?, ?, ?, ?)");
    this.selectRun = this.db.prepare("SELECT * FROM runs WHERE id = ?");
    this.selectByKey = this.db.prepare("SELECT * FROM runs WHERE idempotency_key = ?");
    // A result event is stored without its answer, which can be MAX_OUTPUT_SIZE long: the run row
    // holds it once, and reading puts it back.
    this.selectEvents = this.db.prepare(
      `SELECT e.seq, e.type, CASE WHEN e.type = 'result' AND r.answer IS NOT NULL THEN json_set(e.data, '$.answer', json(r.answer)) ELSE e.data END AS data, e.time
       FROM events e LEFT JOIN runs r ON r.id = e.run_id WHERE e.run_id = ? AND e.seq > ? ORDER BY e.seq`,
    );
  }

  private migrate(): void {
    const version = (this.db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] as string);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
      })();
    }
  }

  /** Runs `fn` in one transaction: one commit for several writes. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  create(run: NewRun): void {
    this.insertRun.run(run);
  }

  markRunning(id: string, at: number): void {
    this.db.query("UPDATE runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'").run(at, id);
  }

  finish(id: string, f: { status: StoredStatus; code: string | null; error: string | null; at: number; answer: string; httpStatus: number }): void {
    this.db
      .query("UPDATE runs SET status = ?, code = ?, error = ?, finished_at = ?, answer = ?, http_status = ? WHERE id = ?")
      .run(f.status, f.code, f.error, f.at, f.answer, f.httpStatus, id);
  }

  appendEvent(runId: string, seq: number, type: string, data: string, time: number): void {
    this.insertEvent.run(runId, seq, type, data, time);
  }

  /** The highest event seq of a run (0 when it has none). */
  lastSeq(runId: string): number {
    return (this.db.query("SELECT coalesce(max(seq), 0) AS seq FROM events WHERE run_id = ?").get(runId) as { seq: number }).seq;
  }

  get(id: string): RunRow | null {
    return this.selectRun.get(id) ?? null;
  }

  byIdempotencyKey(key: string): RunRow | null {
    return this.selectByKey.get(key) ?? null;
  }

  events(runId: string, afterSeq: number): EventRow[] {
    return this.selectEvents.all(runId, afterSeq);
  }

  list(q: ListQuery): RunRow[] {
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
    return this.db.query(sql).all(...args, q.limit) as RunRow[];
  }

  /** Marks runs a crash left queued or running as interrupted; returns their ids. */
  recoverInterrupted(at: number, reason: string): string[] {
    return this.db.transaction(() => {
      const rows = this.db.query("SELECT id, status FROM runs WHERE status IN ('queued', 'running')").all() as { id: string; status: string }[];
      const update = this.db.query("UPDATE runs SET status = 'interrupted', code = 'interrupted', error = ?, finished_at = ? WHERE id = ?");
      for (const row of rows) update.run(`${reason} (it was ${row.status})`, at, row.id);
      return rows.map((r) => r.id);
    })();
  }

  /** Deletes finished runs (and their events) older than `before`; returns how many. */
  prune(before: number): number {
    const finals = FINAL_STATUSES.map(() => "?").join(", ");
    return this.db.query(`DELETE FROM runs WHERE status IN (${finals}) AND coalesce(finished_at, created_at) < ?`).run(...FINAL_STATUSES, before).changes;
  }

  /** Finalizes statements first, so SQLite checkpoints and removes the WAL file on a clean shutdown. */
  close(): void {
    for (const statement of [this.insertRun, this.insertEvent, this.selectRun, this.selectByKey, this.selectEvents]) statement.finalize();
    this.db.close();
  }
}

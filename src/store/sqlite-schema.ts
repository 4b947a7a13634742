// The SQLite run store's schema, as numbered migrations applied in order (PRAGMA user_version counts them).
import type { Database } from "bun:sqlite";

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
  // The durable queue: what a waiting run needs to start (its prompt among it), deleted when it starts.
  // http_status (v1) is no longer written: statuses belong to the HTTP layer.
  // position is the rowid: a new row gets max + 1, so the order is arrival order with no index of its own.
  `CREATE TABLE queue (
     position INTEGER PRIMARY KEY,
     run_id TEXT NOT NULL UNIQUE REFERENCES runs (id) ON DELETE CASCADE,
     lock_key TEXT,
     request TEXT NOT NULL
   );
   CREATE TABLE probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);`,
  // The replica (REPLICA_ID) that runs or ran each run: one machine has one, but records look alike in both stores.
  `ALTER TABLE runs ADD COLUMN replica TEXT;`,
  // Conversations (follow-up runs) and budgets: a run's parent, its thread (null on older rows: the run itself),
  // its caps as JSON; and what a follow-up needs from a finished run (its opencode session, kept commits).
  `ALTER TABLE runs ADD COLUMN parent_id TEXT;
   ALTER TABLE runs ADD COLUMN thread_id TEXT;
   ALTER TABLE runs ADD COLUMN limits TEXT;
   CREATE INDEX runs_by_thread ON runs (thread_id, created_at);
   CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
   CREATE TABLE continuations (run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE, data BLOB NOT NULL);`,
  // Pull requests and webhooks: what a run asked for (JSON), and the outbox of its deliveries — a row per
  // (status event, target), written in the commit that stores the event, so no restart can lose one.
  `ALTER TABLE runs ADD COLUMN pull_request TEXT;
   ALTER TABLE runs ADD COLUMN webhooks TEXT;
   CREATE TABLE deliveries (
     id TEXT PRIMARY KEY,
     run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     event TEXT NOT NULL,
     status TEXT NOT NULL,
     target TEXT NOT NULL,
     url TEXT,
     state TEXT NOT NULL,
     attempts TEXT NOT NULL,
     next_at INTEGER,
     created_at INTEGER NOT NULL,
     UNIQUE (run_id, seq, target)
   );
   CREATE INDEX deliveries_due ON deliveries (next_at) WHERE state = 'pending';`,
  // The dashboard: a run's title (its prompt's first line) and the diff of what a repository run delivered
  // (its own table: lists never read it).
  `ALTER TABLE runs ADD COLUMN title TEXT;
   CREATE TABLE diffs (run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE, diff TEXT NOT NULL, truncated INTEGER NOT NULL);`,
  // Keys as identities: the name of the key a run belongs to (null: no keys, or a run from before), and the
  // index a key's own listing pages through. Idempotency-Keys are stored scoped by key name: no new constraint.
  `ALTER TABLE runs ADD COLUMN owner TEXT;
   CREATE INDEX runs_by_owner ON runs (owner, created_at DESC, id DESC);`,
  // A long answer (a 10 MiB output) in pieces (src/lib/json-pieces.ts): answer holds the first, answer_pieces the
  // rest in order, runs.answer_pieces how many (null: none, as on older rows). Binding the whole answer made
  // SQLite hold copies of it while it wrote; a piece at a time, they are a piece long.
  `ALTER TABLE runs ADD COLUMN answer_pieces INTEGER;
   CREATE TABLE answer_pieces (run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, n INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (run_id, n));`,
];

export function migrate(db: Database): void {
  const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    })();
  }
}

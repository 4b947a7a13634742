// The Postgres run store's schema, as numbered migrations applied once however many replicas start at the same time.
import type { SQL } from "bun";

/** Any constant of our own: pg_advisory_xact_lock keys are global to the database. */
const MIGRATION_LOCK = 0x6f63_7301;

// Times are milliseconds since the epoch (BIGINT), as in SQLite; JSON is kept as TEXT, not JSONB, so that
// events come back byte for byte (JSONB reorders keys and refuses the \u0000 escape agents sometimes print).
// Run ids compare bytewise (COLLATE "C"), as in SQLite, so keyset pages do not depend on the database's locale.
const MIGRATIONS = [
  `CREATE TABLE runs (
     id TEXT COLLATE "C" PRIMARY KEY,
     request_id TEXT NOT NULL,
     status TEXT NOT NULL,
     code TEXT,
     error TEXT,
     created_at BIGINT NOT NULL,
     started_at BIGINT,
     finished_at BIGINT,
     idempotency_key TEXT UNIQUE,
     fingerprint TEXT,
     prompt_chars INTEGER NOT NULL,
     model TEXT,
     agent TEXT,
     repository TEXT,
     branch TEXT,
     base TEXT,
     push BOOLEAN,
     answer TEXT,
     replica TEXT,
     lease_until BIGINT,
     lock_key TEXT,
     cancel_requested BOOLEAN NOT NULL DEFAULT false
   );
   CREATE INDEX runs_by_time ON runs (created_at DESC, id DESC);
   CREATE INDEX runs_by_status ON runs (status, created_at DESC);
   -- The cross-replica branch lock: two replicas can never both run one lock (repository#branch).
   CREATE UNIQUE INDEX runs_running_lock ON runs (lock_key) WHERE status = 'running';
   CREATE INDEX runs_running_lease ON runs (replica, lease_until) WHERE status = 'running';
   CREATE TABLE events (
     run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     type TEXT NOT NULL,
     data TEXT NOT NULL,
     time BIGINT NOT NULL,
     PRIMARY KEY (run_id, seq)
   );
   -- The durable queue: what a waiting run needs to start (its prompt among it), deleted when it starts.
   -- Admission is serialized (an advisory lock), so identity order is arrival order.
   CREATE TABLE queue (
     position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     run_id TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES runs (id) ON DELETE CASCADE,
     lock_key TEXT,
     request TEXT NOT NULL
   );
   CREATE TABLE probe (id INTEGER PRIMARY KEY CHECK (id = 1), at BIGINT NOT NULL);`,
  // Conversations (follow-up runs) and budgets: a run's parent, its thread (null on older rows: the run itself),
  // its caps as JSON; and what a follow-up needs from a finished run (its opencode session, kept commits).
  `ALTER TABLE runs ADD COLUMN parent_id TEXT COLLATE "C";
   ALTER TABLE runs ADD COLUMN thread_id TEXT COLLATE "C";
   ALTER TABLE runs ADD COLUMN limits TEXT;
   CREATE INDEX runs_by_thread ON runs (thread_id, created_at);
   CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
   CREATE TABLE continuations (run_id TEXT COLLATE "C" PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE, data BYTEA NOT NULL);`,
  // Pull requests and webhooks: what a run asked for (JSON), and the outbox of its deliveries — a row per
  // (status event, target), written in the statement that stores the event, so no restart can lose one.
  `ALTER TABLE runs ADD COLUMN pull_request TEXT;
   ALTER TABLE runs ADD COLUMN webhooks TEXT;
   CREATE TABLE deliveries (
     id TEXT COLLATE "C" PRIMARY KEY,
     run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     event TEXT NOT NULL,
     status TEXT NOT NULL,
     target TEXT NOT NULL,
     url TEXT,
     state TEXT NOT NULL,
     attempts TEXT NOT NULL,
     next_at BIGINT,
     created_at BIGINT NOT NULL,
     UNIQUE (run_id, seq, target)
   );
   CREATE INDEX deliveries_due ON deliveries (next_at) WHERE state = 'pending';`,
  // The dashboard: a run's title (its prompt's first line) and the diff of what a repository run delivered
  // (its own table: lists never read it; bytes, because a text column refuses a NUL a file could hold).
  `ALTER TABLE runs ADD COLUMN title TEXT;
   CREATE TABLE diffs (run_id TEXT COLLATE "C" PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE, diff BYTEA NOT NULL, truncated BOOLEAN NOT NULL);`,
  // Keys as identities: the name of the key a run belongs to (null: no keys, or a run from before), and the
  // index a key's own listing pages through. Idempotency-Keys are stored scoped by key name: no new constraint.
  `ALTER TABLE runs ADD COLUMN owner TEXT;
   CREATE INDEX runs_by_owner ON runs (owner, created_at DESC, id DESC);`,
];

/**
 * One transaction under a transaction-level advisory lock: a second replica waits, then finds the versions
 * applied (DDL is transactional in Postgres), and nothing is left locked if a process dies half-way.
 */
export async function migrate(sql: SQL): Promise<number[]> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`;
    const rows = (await tx`SELECT version FROM schema_migrations`) as { version: number }[];
    const have = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const [i, ddl] of MIGRATIONS.entries()) {
      const version = i + 1;
      if (have.has(version)) continue;
      await tx.unsafe(ddl);
      await tx`INSERT INTO schema_migrations (version, applied_at) VALUES (${version}, ${Date.now()})`;
      applied.push(version);
    }
    return applied;
  });
}

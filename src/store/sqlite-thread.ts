// The SQLite store's conversations: continuations and diffs kept per run, a thread's runs, and pruning threads whole.
import type { Database } from "bun:sqlite";
import { FINAL_STATUSES } from "../runs/model.ts";
import type { RunDiff } from "../runs/store.ts";

const FINALS = FINAL_STATUSES.map((s) => `'${s}'`).join(", ");

export function saveContinuation(db: Database, id: string, data: Uint8Array): void {
  db.query("INSERT INTO continuations (run_id, data) VALUES (?, ?) ON CONFLICT (run_id) DO UPDATE SET data = excluded.data").run(id, data);
}

export function loadContinuation(db: Database, id: string): Uint8Array | null {
  const row = db.query("SELECT data FROM continuations WHERE run_id = ?").get(id) as { data: Uint8Array } | null;
  return row ? new Uint8Array(row.data) : null;
}

export function hasContinuation(db: Database, id: string): boolean {
  return db.query("SELECT 1 FROM continuations WHERE run_id = ?").get(id) !== null;
}

export function readDiff(db: Database, id: string): RunDiff | null {
  const row = db.query("SELECT diff, truncated FROM diffs WHERE run_id = ?").get(id) as { diff: string; truncated: number } | null;
  return row ? { text: row.diff, truncated: row.truncated === 1 } : null;
}

export function hasDiff(db: Database, id: string): boolean {
  return db.query("SELECT 1 FROM diffs WHERE run_id = ?").get(id) !== null;
}

/** A thread's first run has no thread_id on rows older than conversations: it is found by its id. */
export const THREAD_WHERE = "(thread_id = ? OR (thread_id IS NULL AND id = ?))";

export function children(db: Database, id: string): string[] {
  return (db.query("SELECT id FROM runs WHERE parent_id = ? ORDER BY created_at, id").all(id) as { id: string }[]).map((r) => r.id);
}

/** Finished runs older than `before` whose whole thread is finished and that old. */
export function prune(db: Database, before: number): number {
  return db
    .query(
      `DELETE FROM runs WHERE status IN (${FINALS}) AND coalesce(finished_at, created_at) < ?1
       AND coalesce(thread_id, id) NOT IN (
         SELECT coalesce(thread_id, id) FROM runs WHERE status NOT IN (${FINALS}) OR coalesce(finished_at, created_at) >= ?1)`,
    )
    .run(before).changes;
}

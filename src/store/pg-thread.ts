// The Postgres store's conversations: continuations and diffs kept per run, a thread's runs, and pruning threads whole.
import type { SQL } from "bun";
import { FINAL_STATUSES, type RunRecord } from "../runs/model.ts";
import type { RunDiff } from "../runs/store.ts";
import { pgRecordOf, runColumns, type PgRunRow } from "./pg-rows.ts";

export async function saveContinuation(sql: SQL, id: string, data: Uint8Array): Promise<void> {
  await sql`INSERT INTO continuations (run_id, data) VALUES (${id}, ${Buffer.from(data)}) ON CONFLICT (run_id) DO UPDATE SET data = excluded.data`;
}

export async function loadContinuation(sql: SQL, id: string): Promise<Uint8Array | null> {
  const [row] = (await sql`SELECT data FROM continuations WHERE run_id = ${id}`) as { data: Uint8Array }[];
  return row ? new Uint8Array(row.data) : null;
}

export async function hasContinuation(sql: SQL, id: string): Promise<boolean> {
  return ((await sql`SELECT 1 FROM continuations WHERE run_id = ${id}`) as unknown[]).length > 0;
}

export async function readDiff(sql: SQL, id: string): Promise<RunDiff | null> {
  const [row] = (await sql`SELECT diff, truncated FROM diffs WHERE run_id = ${id}`) as { diff: Uint8Array; truncated: boolean }[];
  return row ? { text: Buffer.from(row.diff).toString(), truncated: row.truncated } : null;
}

export async function hasDiff(sql: SQL, id: string): Promise<boolean> {
  return ((await sql`SELECT 1 FROM diffs WHERE run_id = ${id}`) as unknown[]).length > 0;
}

/** A thread's first run has no thread_id on rows older than conversations: it is found by its id. */
export async function thread(sql: SQL, threadId: string, limit: number, after = { createdAt: -1, id: "" }, owner?: string): Promise<RunRecord[]> {
  const mine = owner === undefined ? sql`` : sql`AND owner = ${owner}`;
  const rows = (await sql`
    SELECT ${runColumns(sql)} FROM runs WHERE (thread_id = ${threadId} OR (thread_id IS NULL AND id = ${threadId})) ${mine}
      AND (created_at > ${after.createdAt} OR (created_at = ${after.createdAt} AND id > ${after.id}))
    ORDER BY created_at, id LIMIT ${limit}`) as PgRunRow[];
  return rows.map(pgRecordOf);
}

export async function children(sql: SQL, id: string): Promise<string[]> {
  return ((await sql`SELECT id FROM runs WHERE parent_id = ${id} ORDER BY created_at, id`) as { id: string }[]).map((r) => r.id);
}

/** Finished runs older than `before` whose whole thread is finished and that old. */
export async function prune(sql: SQL, before: number): Promise<number> {
  const finals = sql.array([...FINAL_STATUSES], "TEXT");
  const result = await sql`
    DELETE FROM runs WHERE status = ANY(${finals}::text[]) AND coalesce(finished_at, created_at) < ${before}
      AND coalesce(thread_id, id) NOT IN (
        SELECT coalesce(thread_id, id) FROM runs WHERE status <> ALL(${finals}::text[]) OR coalesce(finished_at, created_at) >= ${before})`;
  return result.count as number;
}

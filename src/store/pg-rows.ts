// Postgres rows as Bun.sql returns them (BIGINT as a string) turned into domain types; events written with their announcements.
import type { SQL } from "bun";
import { FINAL_STATUSES, type RunEvent, type RunRecord } from "../runs/model.ts";
import { webhookEventOf } from "../webhooks/model.ts";
import { CHANNEL, eventAnnouncements } from "./pg-notify.ts";
import { recordOf, storedEvent, type EventColumns, type RunColumns } from "./rows.ts";

/** What Bun.sql hands back for BIGINT (int8) and count(*): a decimal string (a bigint with `bigint: true`). */
type Int8 = string | number | bigint;

/** A runs row as Bun.sql returns it: BIGINT columns come back as strings (int() checks and converts them). */
export type PgRunRow = Omit<RunColumns, "created_at" | "started_at" | "finished_at"> & { created_at: Int8; started_at: Int8 | null; finished_at: Int8 | null };

export interface PgEventRow {
  seq: number;
  type: string;
  data: string;
  time: Int8;
  answer: string | null;
}

const RUN_COLUMNS = ["id", "request_id", "status", "code", "error", "created_at", "started_at", "finished_at", "idempotency_key", "fingerprint", "prompt_chars", "title", "model", "agent", "repository", "branch", "base", "push", "replica", "parent_id", "thread_id", "limits", "pull_request", "webhooks", "owner", "answer"] as const satisfies readonly (keyof PgRunRow)[];

/**
 * The columns a RunRecord reads, named rather than `*`: a column a newer replica adds during a rolling
 * upgrade (or the replicas' own lease and lock columns) is not read for nothing. (A prepared `SELECT *`
 * does survive an added column: measured, Bun 1.4.5 + Postgres 15.)
 */
export const runColumns = (sql: SQL, table = ""): SQL.Query<unknown> => sql.unsafe(RUN_COLUMNS.map((c) => (table ? `${table}.${c}` : c)).join(", "));

/** Milliseconds and counts fit a double exactly (< 2^53); anything else is a broken row, not a number to round. */
export function int(v: Int8): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`expected an integer from Postgres, got ${JSON.stringify(String(v))}`);
  return n;
}

const intOrNull = (v: Int8 | null): number | null => (v === null ? null : int(v));

export function pgRecordOf(row: PgRunRow): RunRecord {
  return recordOf({
    ...row,
    created_at: int(row.created_at),
    started_at: intOrNull(row.started_at),
    finished_at: intOrNull(row.finished_at),
  });
}

export function pgEventColumns(row: PgEventRow): EventColumns {
  return { seq: row.seq, type: row.type, data: row.data, time: int(row.time) };
}

/**
 * Inserts events (a number already stored is skipped) and announces the highest number per run, plus
 * `extra` announcements — in one statement, so inside a transaction or alone it is one round trip, and
 * the announcements leave only when it commits. Parallel arrays for `unnest` keep one prepared plan
 * whatever the number of events.
 */
export async function writeEvents(q: SQL, origin: string, events: readonly RunEvent[], extra: readonly string[] = []): Promise<void> {
  const announcements = [...eventAnnouncements(origin, events), ...extra];
  if (announcements.length === 0) return;
  const payloads = q.array(announcements, "TEXT");
  if (events.length === 0) {
    await q`SELECT pg_notify(${CHANNEL}, p) FROM unnest(${payloads}::text[]) p`;
    return;
  }
  const rows = events.map(storedEvent);
  // A status change of a run with subscriptions makes its webhook deliveries in the same statement (the outbox).
  const hooks = events.flatMap((e) => {
    const hook = webhookEventOf(e, FINAL_STATUSES);
    return hook ? [{ runId: e.run_id, seq: e.seq, ...hook, time: Date.parse(e.time) }] : [];
  });
  await q`
    WITH inserted AS (
      INSERT INTO events (run_id, seq, type, data, time)
      SELECT * FROM unnest(${q.array(rows.map((r) => r.runId), "TEXT")}::text[], ${q.array(rows.map((r) => r.seq), "INT")}::int[],
                           ${q.array(rows.map((r) => r.type), "TEXT")}::text[], ${q.array(rows.map((r) => r.data), "TEXT")}::text[],
                           ${q.array(rows.map((r) => r.time), "BIGINT")}::bigint[])
      ON CONFLICT DO NOTHING
    ), hooked AS (
      INSERT INTO deliveries (id, run_id, seq, event, status, target, url, state, attempts, next_at, created_at)
      SELECT replace(gen_random_uuid()::text, '-', ''), r.id, h.seq, h.event, h.status, j->>'target', j->>'url', 'pending', '[]', h.time, h.time
      FROM unnest(${q.array(hooks.map((h) => h.runId), "TEXT")}::text[], ${q.array(hooks.map((h) => h.seq), "INT")}::int[],
                  ${q.array(hooks.map((h) => h.event), "TEXT")}::text[], ${q.array(hooks.map((h) => h.status), "TEXT")}::text[],
                  ${q.array(hooks.map((h) => h.time), "BIGINT")}::bigint[]) AS h(run_id, seq, event, status, time)
      JOIN runs r ON r.id = h.run_id AND r.webhooks IS NOT NULL
      CROSS JOIN LATERAL jsonb_array_elements(r.webhooks::jsonb) j
      WHERE j->>'event' = h.event
      ON CONFLICT (run_id, seq, target) DO NOTHING
    )
    SELECT pg_notify(${CHANNEL}, p) FROM unnest(${payloads}::text[]) p`;
}

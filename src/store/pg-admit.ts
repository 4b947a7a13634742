// Admission to the shared Postgres queue: one run at a time across replicas, so the queue limit and Idempotency-Keys hold globally.
import type { TransactionSQL } from "bun";
import type { QueuedRequest, RunEvent, RunRecord } from "../runs/model.ts";
import type { Enqueued } from "../runs/store.ts";
import { queueAnnouncement } from "./pg-notify.ts";
import { int, pgRecordOf, runColumns, writeEvents, type PgRunRow } from "./pg-rows.ts";
import { extrasColumns, limitsColumn } from "./rows.ts";

/** One-key advisory lock serializing admission, so MAX_QUEUED_RUNS counts every replica's runs. */
const ADMISSION_LOCK = 0x6f63_7302;

export interface Admission {
  record: RunRecord;
  request: QueuedRequest;
  lock: string | null;
  events: readonly RunEvent[];
  maxQueued: number;
  origin: string;
}

export async function admit(tx: TransactionSQL, a: Admission): Promise<Enqueued> {
  const r = a.record;
  const extras = extrasColumns(r);
  // Transaction-level: released by the commit, so a replica that dies mid-way holds nothing.
  await tx`SELECT pg_advisory_xact_lock(${ADMISSION_LOCK}::bigint)`;
  // The key is checked before the room: a retried request gets its run back even when the queue is full.
  const [seen] = (await tx`
    SELECT (SELECT count(*) FROM queue) AS waiting, ${runColumns(tx, "r")} FROM (SELECT 1) one
    LEFT JOIN runs r ON r.idempotency_key = ${r.idempotencyKey}::text`) as (PgRunRow & { waiting: string; id: string | null })[];
  if (seen?.id) return { queued: false, reason: "duplicate", earlier: pgRecordOf(seen) };
  const waiting = int(seen?.waiting ?? "0");
  if (waiting >= a.maxQueued) return { queued: false, reason: "full", waiting };
  // ON CONFLICT: the unique index stands behind the check above (admission is serialized, so it never fires).
  const inserted = await tx`
    WITH run AS (
      INSERT INTO runs (id, request_id, status, created_at, started_at, idempotency_key, fingerprint, prompt_chars, title, model, agent, repository, branch, base, push, replica,
                        parent_id, thread_id, limits, pull_request, webhooks, owner)
      VALUES (${r.id}, ${r.requestId}, ${r.status}, ${r.createdAt}, ${r.startedAt}, ${r.idempotencyKey}, ${r.fingerprint}, ${r.promptChars}, ${r.title},
              ${r.model}, ${r.agent}, ${r.repository}, ${r.branch}, ${r.base}, ${r.push}, ${r.replica}, ${r.parentId}, ${r.threadId}, ${limitsColumn(r)},
              ${extras.pullRequest}, ${extras.webhooks}, ${r.owner})
      ON CONFLICT (idempotency_key) DO NOTHING RETURNING id)
    INSERT INTO queue (run_id, lock_key, request) SELECT id, ${a.lock}, ${JSON.stringify(a.request)} FROM run RETURNING run_id`;
  if (inserted.length === 0) throw new Error(`idempotency key ${r.idempotencyKey} was taken while admission was locked`);
  await writeEvents(tx, a.origin, a.events, [queueAnnouncement(a.origin)]);
  return { queued: true };
}

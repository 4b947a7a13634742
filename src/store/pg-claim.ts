// Claiming the oldest startable queued run on a shared Postgres queue: row locks, branch locks, arrival order.
import type { SQL, TransactionSQL } from "bun";
import { QueuedRequest } from "../runs/model.ts";
import type { Claimed, EventMaker } from "../runs/store.ts";
import { pgRecordOf, runColumns, writeEvents, type PgRunRow } from "./pg-rows.ts";

/** Namespace of the two-key advisory locks on branches (one-key locks are admission and migration). */
const BRANCH_LOCKS = 0x6f63_73;
const PAGE = 100;

interface Candidate {
  position: string;
  run_id: string;
  lock_key: string | null;
}

export interface ClaimArgs {
  replica: string;
  at: number;
  leaseUntil: number;
  busy: (lock: string) => boolean;
  startEvents: EventMaker;
  origin: string;
}

/**
 * Reads candidates without locking anything (an empty queue costs that one read), drops those whose lock
 * `busy` holds here and all but the oldest per lock, then tries them in arrival order inside one
 * transaction. A retry after a unique violation is the caller's.
 */
export async function claimNext(sql: SQL, a: ClaimArgs): Promise<Claimed | null> {
  const seen = new Set<string>();
  let after = "0";
  for (;;) {
    const page = (await sql`
      SELECT position, run_id, lock_key FROM queue q
      WHERE position > ${after}::bigint
        AND (lock_key IS NULL OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.lock_key = q.lock_key AND r.status = 'running'))
      ORDER BY position LIMIT ${PAGE}`) as Candidate[];
    const usable = page.filter((c) => {
      if (c.lock_key === null) return true;
      if (seen.has(c.lock_key)) return false;
      seen.add(c.lock_key);
      return !a.busy(c.lock_key);
    });
    if (usable.length > 0) {
      const claimed = (await sql.begin((tx) => take(tx, usable, a))) as Claimed | null;
      if (claimed) return claimed;
    }
    const last = page.at(-1);
    if (page.length < PAGE || !last) return null;
    after = String(last.position);
  }
}

async function take(tx: TransactionSQL, candidates: readonly Candidate[], a: ClaimArgs): Promise<Claimed | null> {
  for (const c of candidates) {
    if (c.lock_key !== null) {
      // Another replica taking the same branch right now holds this until it commits: skip, do not wait.
      const [lock] = (await tx`SELECT pg_try_advisory_xact_lock(${BRANCH_LOCKS}::int, hashtext(${c.lock_key})) AS ok`) as { ok: boolean }[];
      if (!lock?.ok) continue;
    }
    // After the advisory lock (a later statement, so a later snapshot): a claim that committed meanwhile is
    // seen running here. SKIP LOCKED: a row another claimer (or finishQueued) holds is theirs.
    const [taken] = (await tx`
      DELETE FROM queue WHERE run_id = (
        SELECT run_id FROM queue WHERE run_id = ${c.run_id}
          AND (${c.lock_key}::text IS NULL OR NOT EXISTS (SELECT 1 FROM runs WHERE lock_key = ${c.lock_key} AND status = 'running'))
        FOR UPDATE SKIP LOCKED)
      RETURNING request`) as { request: string }[];
    if (!taken) continue;
    // The partial unique index on running lock_keys is the last word: a violation rolls this back.
    const [row] = (await tx`
      UPDATE runs SET status = 'running', started_at = ${a.at}, replica = ${a.replica}, lease_until = ${a.leaseUntil}, lock_key = ${c.lock_key}
      WHERE id = ${c.run_id}
      RETURNING ${runColumns(tx)}, (SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ${c.run_id}) AS last_seq`) as (PgRunRow & { last_seq: number })[];
    if (!row) throw new Error(`queued run ${c.run_id} has no run row`);
    await writeEvents(tx, a.origin, a.startEvents(c.run_id, row.last_seq));
    return { record: pgRecordOf(row), request: QueuedRequest.parse(JSON.parse(taken.request)), lock: c.lock_key };
  }
  return null;
}

/** 23505: two claimers raced for one branch and the index refused the second. */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error && "errno" in err && err.errno === "23505";
}

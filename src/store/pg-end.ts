// Ending runs in Postgres: one run's end (its branch lock and lease released), and interrupting the runs a replica left behind.
import type { TransactionSQL } from "bun";
import type { RunEvent } from "../runs/model.ts";
import type { Finish, RunStore } from "../runs/store.ts";
import { queueAnnouncement } from "./pg-notify.ts";
import { writeEvents } from "./pg-rows.ts";

type Recover = Parameters<RunStore["recoverRunning"]>;

/** A running run to interrupt, its row locked. */
export interface Abandoned {
  id: string;
  request_id: string;
  model: string | null;
  last_seq: number;
}

export async function endRun(tx: TransactionSQL, id: string, f: Finish): Promise<void> {
  // lock_key and the lease go with the running state: the branch is free once this commits.
  await tx`
    WITH dequeued AS (DELETE FROM queue WHERE run_id = ${id})
    UPDATE runs SET status = ${f.status}, code = ${f.code}, error = ${f.error}, finished_at = ${f.at}, answer = ${JSON.stringify(f.outcome)},
                    lock_key = NULL, lease_until = NULL
    WHERE id = ${id}`;
  if (f.diff) {
    await tx`INSERT INTO diffs (run_id, diff, truncated) VALUES (${id}, ${Buffer.from(f.diff.text)}, ${f.diff.truncated})
             ON CONFLICT (run_id) DO UPDATE SET diff = excluded.diff, truncated = excluded.truncated`;
  }
}

// FOR UPDATE SKIP LOCKED: two replicas expiring at once never both end a run; each takes the rows it locked.
export async function leftBy(tx: TransactionSQL, replica: string): Promise<Abandoned[]> {
  return (await tx`
    SELECT id, request_id, model, (SELECT coalesce(max(seq), 0) FROM events e WHERE e.run_id = runs.id) AS last_seq
    FROM runs WHERE status = 'running' AND replica = ${replica} FOR UPDATE SKIP LOCKED`) as Abandoned[];
}

export async function expiredAt(tx: TransactionSQL, now: number): Promise<Abandoned[]> {
  return (await tx`
    SELECT id, request_id, model, (SELECT coalesce(max(seq), 0) FROM events e WHERE e.run_id = runs.id) AS last_seq
    FROM runs WHERE status = 'running' AND lease_until < ${now} FOR UPDATE SKIP LOCKED`) as Abandoned[];
}

/** The runs end with f's fields, the outcome made for each and its closing events; announced; their ids. */
export async function interruptRuns(tx: TransactionSQL, origin: string, runs: readonly Abandoned[], f: Recover[1], outcome: Recover[2], closing: Recover[3]): Promise<string[]> {
  if (runs.length === 0) return [];
  const events: RunEvent[] = [];
  for (const run of runs) {
    await endRun(tx, run.id, { ...f, outcome: outcome(run.id, run.request_id, run.model) });
    events.push(...closing(run.id, run.last_seq));
  }
  // Their branch locks are free: replicas with room try to claim.
  await writeEvents(tx, origin, events, [queueAnnouncement(origin)]);
  return runs.map((r) => r.id);
}

// The SQLite store's webhook outbox: delivery rows made with the events that cause them, claimed, attempted, listed.
import type { Database, Statement } from "bun:sqlite";
import { FINAL_STATUSES, type RunEvent } from "../runs/model.ts";
import { webhookEventOf, type Delivery, type DeliveryAttempt, type DeliveryState } from "../webhooks/model.ts";
import { deliveryOf, type DeliveryColumns } from "./rows.ts";

/** One row per subscription of the run to this kind of event; a run without subscriptions (webhooks NULL) makes none. */
export const INSERT_DELIVERIES = `
  INSERT OR IGNORE INTO deliveries (id, run_id, seq, event, status, target, url, state, attempts, next_at, created_at)
  SELECT lower(hex(randomblob(16))), r.id, ?, ?, ?, json_extract(j.value, '$.target'), json_extract(j.value, '$.url'), 'pending', '[]', ?, ?
  FROM runs r, json_each(r.webhooks) j
  WHERE r.id = ? AND r.webhooks IS NOT NULL AND json_extract(j.value, '$.event') = ?`;

/**
 * The deliveries an event causes (a status change of a run with subscriptions); inside the caller's
 * transaction. `subscribed` says whether the run has any: an INSERT … SELECT that inserts nothing still
 * costs ~15 µs, four times per run, where most runs have none.
 */
export function writeDeliveries(insert: Statement, e: RunEvent, time: number, subscribed: (runId: string) => boolean): void {
  const hook = webhookEventOf(e, FINAL_STATUSES);
  if (hook && subscribed(e.run_id)) insert.run(e.seq, hook.event, hook.status, time, time, e.run_id, hook.event);
}

/** Whether runs have subscriptions: known from their insert in this process, else read once (~3 µs); forgotten at their end. */
export class Subscribed {
  private readonly known = new Map<string, boolean>();
  constructor(private readonly select: Statement) {}

  set(runId: string, value: boolean): void {
    // Entries are runs in flight; a bound keeps a process that never sees ends (a bug, a test) from growing.
    if (this.known.size >= 10_000) this.known.clear();
    this.known.set(runId, value);
  }

  has = (runId: string): boolean => {
    const known = this.known.get(runId);
    if (known !== undefined) return known;
    const value = (this.select.get(runId) as { w: number } | null)?.w === 1;
    this.set(runId, value);
    return value;
  };

  forget(runId: string): void {
    this.known.delete(runId);
  }
}

export function dueDeliveries(db: Database, now: number, limit: number, after?: { nextAt: number; id: string }): Delivery[] {
  const a = after ?? { nextAt: -1, id: "" };
  const rows = db
    .query("SELECT * FROM deliveries WHERE state = 'pending' AND next_at <= ? AND (next_at > ? OR (next_at = ? AND id > ?)) ORDER BY next_at, id LIMIT ?")
    .all(now, a.nextAt, a.nextAt, a.id, limit) as DeliveryColumns[];
  return rows.map(deliveryOf);
}

export function moveDelivery(db: Database, id: string, from: number, to: number): boolean {
  return db.query("UPDATE deliveries SET next_at = ? WHERE id = ? AND state = 'pending' AND next_at = ?").run(to, id, from).changes === 1;
}

export function recordAttempt(db: Database, id: string, attempt: DeliveryAttempt, next: { state: DeliveryState; nextAt: number | null }): void {
  db.query("UPDATE deliveries SET attempts = json_insert(attempts, '$[#]', json(?)), state = ?, next_at = ? WHERE id = ?").run(JSON.stringify(attempt), next.state, next.nextAt, id);
}

export function deliveries(db: Database, runId: string): Delivery[] {
  const rows = db.query("SELECT * FROM deliveries WHERE run_id = ? ORDER BY seq, target").all(runId) as DeliveryColumns[];
  return rows.map(deliveryOf);
}

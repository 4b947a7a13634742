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

/** The deliveries an event causes (a status change with its run's subscriptions); inside the caller's transaction. */
export function writeDeliveries(insert: Statement, e: RunEvent, time: number): void {
  const hook = webhookEventOf(e, FINAL_STATUSES);
  if (hook) insert.run(e.seq, hook.event, hook.status, time, time, e.run_id, hook.event);
}

export function dueDeliveries(db: Database, now: number, limit: number): Delivery[] {
  const rows = db.query("SELECT * FROM deliveries WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?").all(now, limit) as DeliveryColumns[];
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

// The Postgres store's webhook outbox: due deliveries, taken by one replica with a compare-and-set on their due time.
import type { SQL } from "bun";
import type { Delivery, DeliveryAttempt, DeliveryState } from "../webhooks/model.ts";
import { int } from "./pg-rows.ts";
import { deliveryOf, type DeliveryColumns } from "./rows.ts";

type PgDeliveryRow = Omit<DeliveryColumns, "next_at" | "created_at"> & { next_at: string | number | null; created_at: string | number };

const fromPg = (row: PgDeliveryRow): Delivery => deliveryOf({ ...row, next_at: row.next_at === null ? null : int(row.next_at), created_at: int(row.created_at) });

export async function dueDeliveries(sql: SQL, now: number, limit: number, after?: { nextAt: number; id: string }): Promise<Delivery[]> {
  const a = after ?? { nextAt: -1, id: "" };
  const rows = (await sql`
    SELECT * FROM deliveries WHERE state = 'pending' AND next_at <= ${now} AND (next_at, id) > (${a.nextAt}::bigint, ${a.id}::text)
    ORDER BY next_at, id LIMIT ${limit}`) as PgDeliveryRow[];
  return rows.map(fromPg);
}

/** Two replicas that read the same due row race here; the one whose update still finds `from` has it. */
export async function moveDelivery(sql: SQL, id: string, from: number, to: number): Promise<boolean> {
  const rows = await sql`UPDATE deliveries SET next_at = ${to} WHERE id = ${id} AND state = 'pending' AND next_at = ${from} RETURNING id`;
  return rows.length === 1;
}

export async function recordAttempt(sql: SQL, id: string, attempt: DeliveryAttempt, next: { state: DeliveryState; nextAt: number | null }): Promise<void> {
  await sql`
    UPDATE deliveries SET attempts = (attempts::jsonb || jsonb_build_array((${JSON.stringify(attempt)}::text)::jsonb))::text, state = ${next.state}, next_at = ${next.nextAt}
    WHERE id = ${id}`;
}

export async function deliveries(sql: SQL, runId: string): Promise<Delivery[]> {
  const rows = (await sql`SELECT * FROM deliveries WHERE run_id = ${runId} ORDER BY seq, target`) as PgDeliveryRow[];
  return rows.map(fromPg);
}

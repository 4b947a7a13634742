// Webhook subscriptions and deliveries as zod schemas: what a run asked to be called back about, and each delivery's attempts.
import { z } from "zod";

export const WEBHOOK_EVENTS = ["run.finished", "run.status"] as const;
export const WebhookEvent = z.enum(WEBHOOK_EVENTS);
export type WebhookEvent = z.infer<typeof WebhookEvent>;

/** Where a delivery goes: the run's own callback_url, or the server's WEBHOOK_URL (read from config when sent, never stored). */
export const WebhookTargetKind = z.enum(["callback", "server"]);
export type WebhookTargetKind = z.infer<typeof WebhookTargetKind>;

/** One (target, event) pair a run is subscribed to; written with the run, so every status change it makes creates its delivery in the same commit. */
export const WebhookSubscription = z.object({ target: WebhookTargetKind, url: z.string().nullable(), event: WebhookEvent });
export type WebhookSubscription = z.infer<typeof WebhookSubscription>;

export const DeliveryState = z.enum(["pending", "delivered", "failed"]);
export type DeliveryState = z.infer<typeof DeliveryState>;

export const DeliveryAttempt = z
  .object({
    at: z.string().describe("When the attempt started (ISO 8601)"),
    status_code: z.number().int().nullable().describe("The receiver's HTTP status; null when it gave none (refused, timeout, connection error)"),
    error: z.string().nullable().describe("Why the attempt failed; null for a 2xx"),
    duration_ms: z.number(),
  })
  .meta({ id: "WebhookAttempt" });
export type DeliveryAttempt = z.infer<typeof DeliveryAttempt>;

/** A delivery as the store keeps it. */
export interface Delivery {
  id: string;
  runId: string;
  /** The number of the event that caused it. */
  seq: number;
  event: WebhookEvent;
  /** The run status the event announced. */
  status: string;
  target: WebhookTargetKind;
  /** The callback URL; null for the server's WEBHOOK_URL. */
  url: string | null;
  state: DeliveryState;
  attempts: DeliveryAttempt[];
  /** When it is due (pending), or until when a replica holds it; null once settled. */
  nextAt: number | null;
  createdAt: number;
}

/** Which event a stored run event causes: the end, or a status change on the way (queued, running). */
export function webhookEventOf(e: { type: string; status?: unknown }, finalStatuses: readonly string[]): { event: WebhookEvent; status: string } | null {
  if (e.type === "result" && typeof e.status === "string") return { event: "run.finished", status: e.status };
  if (e.type === "status" && typeof e.status === "string" && !finalStatuses.includes(e.status)) return { event: "run.status", status: e.status };
  return null;
}

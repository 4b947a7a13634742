// Who a new run calls back, and about what: its callback_url (checked against WEBHOOK_ALLOWED_PREFIXES) and the server's WEBHOOK_URL.
import { AppError } from "../errors.ts";
import type { WebhookEvent, WebhookSubscription } from "./model.ts";
import { checkWebhookUrl, WebhookUrlError, type WebhookPrefix } from "./url-policy.ts";

export interface WebhookSettings {
  /** WEBHOOK_SECRET is set: without it nothing is sent (an unsigned callback is not one a receiver can trust). */
  enabled: boolean;
  prefixes: readonly WebhookPrefix[];
  /** WEBHOOK_EVENTS. */
  events: readonly WebhookEvent[];
  /** WEBHOOK_URL is set: every run is delivered there too. */
  server: boolean;
}

/** The run's subscriptions; a callback_url that is malformed is a 400, one outside the allow-list a 403. */
export function subscriptionsFor(callbackUrl: string | null, s: WebhookSettings): WebhookSubscription[] {
  let callback: string | null = null;
  if (callbackUrl !== null) {
    if (!s.enabled) throw new AppError("invalid_request", 'Invalid field "callback_url": this server sends no webhooks (WEBHOOK_SECRET is not set)', { field: "callback_url" });
    try {
      callback = checkWebhookUrl(callbackUrl, s.prefixes).url.href;
    } catch (err) {
      if (!(err instanceof WebhookUrlError)) throw err;
      if (err.kind === "invalid") throw new AppError("invalid_request", `Invalid field "callback_url": ${err.message}`, { field: "callback_url" });
      throw new AppError("callback_not_allowed", err.message);
    }
  }
  const subs: WebhookSubscription[] = [];
  for (const event of s.events) {
    if (callback) subs.push({ target: "callback", url: callback, event });
    if (s.server && s.enabled) subs.push({ target: "server", url: null, event });
  }
  return subs;
}

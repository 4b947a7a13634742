// Delivers the stored webhook outbox: due deliveries taken one by one (across replicas), signed, sent with bounded concurrency, retried with backoff.
import type { Logger } from "../lib/logger.ts";
import type { RunRecord } from "../runs/model.ts";
import type { RunStore } from "../runs/store.ts";
import { retryDelayMs } from "./backoff.ts";
import type { Delivery, DeliveryAttempt, DeliveryState, WebhookEvent } from "./model.ts";
import { sendOnce, type AttemptResult, type SendRequest } from "./sender.ts";
import { signatureOf } from "./signature.ts";
import { checkWebhookUrl, parseWebhookPrefixes, WebhookUrlError, type WebhookPrefix, type WebhookTarget } from "./url-policy.ts";

export interface WebhookObserver {
  webhookAttempt(event: WebhookEvent, outcome: "delivered" | "retry" | "failed" | "refused", seconds: number): void;
}

export interface DispatcherOptions {
  store: RunStore;
  logger: Logger;
  observer: WebhookObserver;
  /** The run as GET /runs/{id} shows it: what a delivery carries. */
  present: (record: RunRecord) => Promise<unknown>;
  secret: string;
  prefixes: readonly WebhookPrefix[];
  /** WEBHOOK_URL: the operator's own receiver (any address; never shown). */
  serverUrl: string | null;
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  concurrency: number;
  userAgent: string;
  /** How often the store is asked for due deliveries (besides wake()). */
  pollMs?: number;
  lookup?: SendRequest["lookup"];
}

/** A hanging receiver holds at most this many of the slots: the others keep delivering. */
const PER_HOST = 2;
/** Beyond an attempt's timeout, how long a taken delivery stays with this replica before another may take it (reads and writes around the send). */
const LEASE_MARGIN_MS = 10_000;
const POLL_MS = 1000;
/** The outbox is read this many due deliveries at a time, at most MAX_PAGES pages per look (bounded work per wake-up). */
const PAGE = 50;
const MAX_PAGES = 40;

type Resolved = { target: WebhookTarget; anyAddress: boolean } | { problem: string };

/** The operator's WEBHOOK_URL (checked by the config): any address may be its, so its prefix matters only for the pinned connection. */
function serverTarget(serverUrl: string | null): Resolved {
  if (!serverUrl) return { problem: "WEBHOOK_URL is no longer configured" };
  const url = new URL(serverUrl);
  const prefix = parseWebhookPrefixes([`${url.protocol}//${url.host}/`])[0];
  return prefix ? { target: { url, prefix }, anyAddress: true } : { problem: "WEBHOOK_URL is not a URL prefix" };
}

export class WebhookDispatcher {
  private readonly flying = new Map<string, Promise<void>>();
  private readonly perHost = new Map<string, number>();
  private readonly abort = new AbortController();
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Wake-ups at retries due before the next poll. */
  private readonly soon = new Set<ReturnType<typeof setTimeout>>();
  private pumping = false;
  private woken = false;
  private again = false;
  private storeFailing = false;

  /** WEBHOOK_URL as a target, built once. */
  private readonly server: Resolved;

  constructor(private readonly o: DispatcherOptions) {
    this.server = serverTarget(o.serverUrl);
  }

  start(): void {
    this.timer = setInterval(() => this.wake(), this.o.pollMs ?? POLL_MS);
    this.timer.unref();
    this.wake();
  }

  /** Looks for due deliveries soon (a run just ended here): after the current turn, so the run's answer goes out first. */
  wake(): void {
    if (this.woken) return;
    this.woken = true;
    setImmediate(() => {
      this.woken = false;
      void this.pump();
    });
  }

  /** No new attempts; attempts in flight are cut short and handed back, due at once (the next process sends them). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const t of this.soon) clearTimeout(t);
    this.soon.clear();
    this.abort.abort();
    await Promise.all(this.flying.values());
  }

  private async pump(): Promise<void> {
    if (this.abort.signal.aborted) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        await this.takeDue();
      } while (this.again);
      this.storeFailing = false;
    } catch (err) {
      // The store's health is watched elsewhere; said once per outage here, retried by the next poll.
      if (!this.storeFailing) this.o.logger.error("could not read the webhook outbox", { error: err });
      this.storeFailing = true;
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Starts due deliveries while slots are free. The outbox is read in pages: a host at its cap (a hanging
   * receiver with a backlog) is skipped, and the deliveries behind its backlog are still found.
   */
  private async takeDue(): Promise<void> {
    const now = Date.now();
    let after: { nextAt: number; id: string } | undefined;
    for (let page = 0; page < MAX_PAGES && this.flying.size < this.o.concurrency; page++) {
      const due = await this.o.store.dueDeliveries(now, PAGE, after);
      for (const d of due) {
        if (this.flying.size >= this.o.concurrency || this.abort.signal.aborted) return;
        if (this.flying.has(d.id) || d.nextAt === null) continue;
        const resolved = this.resolve(d);
        const host = "target" in resolved ? resolved.target.url.host : "";
        if ((this.perHost.get(host) ?? 0) >= PER_HOST) continue;
        const lease = Date.now() + this.o.timeoutMs + LEASE_MARGIN_MS;
        if (!(await this.o.store.moveDelivery(d.id, d.nextAt, lease))) continue;
        this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
        const done = this.attempt(d, resolved, lease).finally(() => {
          this.flying.delete(d.id);
          this.perHost.set(host, (this.perHost.get(host) ?? 1) - 1);
          this.wake();
        });
        this.flying.set(d.id, done);
      }
      const last = due.at(-1);
      if (due.length < PAGE || !last || last.nextAt === null) return;
      after = { nextAt: last.nextAt, id: last.id };
    }
  }

  private wakeAt(at: number): void {
    const t = setTimeout(() => {
      this.soon.delete(t);
      this.wake();
    }, Math.max(0, at - Date.now()));
    t.unref();
    this.soon.add(t);
  }

  /** Where a delivery goes now: the callback is checked again (the allow-list may have changed since the run was made). */
  private resolve(d: Delivery): Resolved {
    if (d.target === "server") return this.server;
    try {
      return { target: checkWebhookUrl(d.url ?? "", this.o.prefixes), anyAddress: false };
    } catch (err) {
      if (err instanceof WebhookUrlError) return { problem: `no longer allowed: ${err.message}` };
      throw err;
    }
  }

  private async attempt(d: Delivery, resolved: Resolved, lease: number): Promise<void> {
    const n = d.attempts.length + 1;
    const started = Date.now();
    try {
      let result: AttemptResult;
      const record = "problem" in resolved ? null : await this.o.store.get(d.runId);
      if ("problem" in resolved) result = { status: null, error: resolved.problem, durationMs: 0, refused: true };
      else if (!record) result = { status: null, error: "the run no longer exists", durationMs: 0, refused: true };
      else result = await this.send(d, n, record, resolved);
      if (this.abort.signal.aborted) {
        // Shutdown cut it short: not counted, due at once for the next process.
        await this.o.store.moveDelivery(d.id, lease, Date.now()).catch(() => {});
        return;
      }
      await this.settle(d, n, started, result);
    } catch (err) {
      // A store fault: the lease runs out and the delivery is taken again (at least once, never lost).
      this.o.logger.error("a webhook delivery could not be attempted", { run_id: d.runId, delivery_id: d.id, error: err });
    }
  }

  private async send(d: Delivery, n: number, record: RunRecord, resolved: { target: WebhookTarget; anyAddress: boolean }): Promise<AttemptResult> {
    // The timestamp and delivery id are inside the signed body: a receiver can refuse replays and duplicates.
    const body = JSON.stringify({ id: d.id, event: d.event, status: d.status, attempt: n, timestamp: new Date().toISOString(), run: await this.o.present(record) });
    const headers = {
      "User-Agent": this.o.userAgent,
      "X-Signature-256": signatureOf(this.o.secret, body),
      "X-Webhook-Id": d.id,
      "X-Webhook-Event": d.event,
    };
    return sendOnce({ target: resolved.target, anyAddress: resolved.anyAddress, body, headers, timeoutMs: this.o.timeoutMs, signal: this.abort.signal, ...(this.o.lookup ? { lookup: this.o.lookup } : {}) });
  }

  private async settle(d: Delivery, n: number, started: number, result: AttemptResult): Promise<void> {
    const attempt: DeliveryAttempt = { at: new Date(started).toISOString(), status_code: result.status, error: result.error, duration_ms: Math.round(result.durationMs) };
    const ok = result.error === null;
    const last = ok || result.refused || n >= this.o.maxAttempts;
    const state: DeliveryState = ok ? "delivered" : last ? "failed" : "pending";
    const nextAt = last ? null : Date.now() + retryDelayMs(n, this.o.retryBaseMs, this.o.retryMaxMs);
    await this.o.store.recordAttempt(d.id, attempt, { state, nextAt });
    if (nextAt !== null && nextAt - Date.now() < (this.o.pollMs ?? POLL_MS)) this.wakeAt(nextAt);
    this.o.observer.webhookAttempt(d.event, ok ? "delivered" : result.refused ? "refused" : last ? "failed" : "retry", result.durationMs / 1000);
    const fields = { run_id: d.runId, delivery_id: d.id, event: d.event, target: d.target, attempt: n, status_code: result.status, duration_ms: attempt.duration_ms };
    if (ok) this.o.logger.info("webhook delivered", fields);
    else if (last) this.o.logger.warn("webhook delivery failed for good", { ...fields, error: result.error });
    else this.o.logger.info("webhook attempt failed; retrying", { ...fields, error: result.error, retry_in_ms: (nextAt ?? 0) - Date.now() });
  }
}

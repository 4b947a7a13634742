// Announcements between replicas over LISTEN/NOTIFY: small payloads (ids only), sent inside the writing transaction.
import type { SQL } from "bun";
import type { Logger } from "../lib/logger.ts";
import type { RunEvent } from "../runs/model.ts";
import type { StoreWatch } from "../runs/store.ts";

export const CHANNEL = "opencode_server_runs";

/** o: the announcing store instance; k: e(vents up to s of run r), q(ueue changed), c(ancel run r). */
export type Announcement = { o: string; k: "e"; r: string; s: number } | { o: string; k: "q" } | { o: string; k: "c"; r: string };

/** One announcement per run: its highest number (a follower reads everything up to it from the table). */
export function eventAnnouncements(origin: string, events: readonly RunEvent[]): string[] {
  const last = new Map<string, number>();
  for (const e of events) last.set(e.run_id, Math.max(e.seq, last.get(e.run_id) ?? 0));
  return [...last].map(([r, s]) => JSON.stringify({ o: origin, k: "e", r, s } satisfies Announcement));
}

export const queueAnnouncement = (origin: string): string => JSON.stringify({ o: origin, k: "q" } satisfies Announcement);
export const cancelAnnouncement = (origin: string, runId: string): string => JSON.stringify({ o: origin, k: "c", r: runId } satisfies Announcement);

export function decode(payload: string): Announcement | null {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || !("o" in v) || typeof v.o !== "string" || !("k" in v)) return null;
  if (v.k === "q") return { o: v.o, k: "q" };
  if (!("r" in v) || typeof v.r !== "string") return null;
  if (v.k === "c") return { o: v.o, k: "c", r: v.r };
  if (v.k === "e" && "s" in v && typeof v.s === "number") return { o: v.o, k: "e", r: v.r, s: v.s };
  return null;
}

/**
 * LISTENs until stopped. Bun re-listens by itself after a lost connection (onlisten runs again); a first
 * LISTEN that fails (the database is down) is retried here. Whatever was announced while nobody listened
 * is lost, so every LISTEN after the first, or after a failure, tells the handlers to read the store.
 * This store instance's own announcements are dropped: the process that wrote them knows already.
 */
export function listen(sql: SQL, origin: string, handlers: StoreWatch, logger: Logger | undefined): { stop(): Promise<void> } {
  let stopped = false;
  let listens = 0;
  let failed = false;
  let subscription: Awaited<ReturnType<SQL["listen"]>> | null = null;
  let wake = () => {};

  const safely = (what: string, fn: () => void) => {
    // A throwing callback would be an uncaught exception inside Bun's listener.
    try {
      fn();
    } catch (err) {
      logger?.error("a store announcement handler failed", { announcement: what, error: err });
    }
  };
  const onNotify = (payload: string) => {
    if (stopped) return;
    const a = decode(payload);
    if (!a || a.o === origin) return;
    if (a.k === "e") safely("events", () => handlers.events(a.r, a.s));
    else if (a.k === "c") safely("cancel", () => handlers.cancel(a.r));
    else safely("queue", () => handlers.queue());
  };
  const onListen = () => {
    if (stopped) return;
    if (listens++ > 0 || failed) {
      logger?.info("listening to store announcements again", { channel: CHANNEL });
      safely("reconnected", () => handlers.reconnected());
    }
  };
  const started = (async () => {
    let delay = 250;
    while (!stopped) {
      try {
        const s = await sql.listen(CHANNEL, onNotify, onListen);
        if (stopped) await s.unlisten();
        else subscription = s;
        return;
      } catch (err) {
        if (stopped) return;
        failed = true;
        logger?.warn("cannot listen to store announcements yet, retrying", { channel: CHANNEL, error: err, retry_in_ms: delay });
        // stop() cuts the wait short.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        delay = Math.min(delay * 2, 8000);
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake();
      await started;
      const s = subscription;
      subscription = null;
      await s?.unlisten();
    },
  };
}

// A run's events as Server-Sent Events: replay after Last-Event-ID, then follow live until the result.
import type { EventListener } from "../runs/event-log.ts";
import type { RunEvent } from "../runs/model.ts";
import { outcomeStatus } from "./answer.ts";

/** Where the events come from: called once, with the listener for live events. */
export type EventSource = (listener: EventListener) => { events: RunEvent[]; finished: boolean; unsubscribe: () => void };

const encoder = new TextEncoder();
const PING_MS = 15_000;

/** One event on the wire; a result also says the HTTP status POST /run answered (or would answer) with. */
export function formatEvent(event: RunEvent): string {
  const data = event.type === "result" ? { type: event.type, status: event.status, http_status: outcomeStatus(event.answer), answer: event.answer, run_id: event.run_id, seq: event.seq, time: event.time } : event;
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Parses Last-Event-ID (the seq of the last event the client saw); null when absent, NaN when invalid. */
export function lastEventId(header: string | null): number | null {
  if (header === null || header.trim() === "") return null;
  return /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : Number.NaN;
}

/**
 * The stream: stored events first, then live ones, ending after `result`. The source registers its
 * listener and reads the store in one step, so nothing is lost or repeated. Comments keep proxies
 * from closing a quiet connection.
 */
export function eventStream(source: EventSource, signal: AbortSignal): ReadableStream<Uint8Array> {
  let closed = false;
  let unsubscribe = () => {};
  let ping: ReturnType<typeof setInterval> | undefined;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(ping);
    signal.removeEventListener("abort", close);
    unsubscribe();
    try {
      controller?.close();
    } catch {
      // Already closed by the client.
    }
  };
  const send = (event: RunEvent) => {
    if (closed || !controller) return;
    controller.enqueue(encoder.encode(formatEvent(event)));
    if (event.type === "result") close();
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      const sub = source(send);
      unsubscribe = sub.unsubscribe;
      for (const event of sub.events) send(event);
      if (sub.finished) return close();
      if (closed) return;
      ping = setInterval(() => !closed && c.enqueue(encoder.encode(": ping\n\n")), PING_MS);
      signal.addEventListener("abort", close, { once: true });
    },
    cancel: close,
  });
}

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  // Tell nginx not to buffer the stream.
  "x-accel-buffering": "no",
};

// A run's events as Server-Sent Events: replay after Last-Event-ID, then follow live until the result.
import { jsonPieces } from "../lib/json-pieces.ts";
import type { EventListener } from "../runs/event-log.ts";
import type { RunEvent } from "../runs/model.ts";
import { outcomeStatus } from "./answer.ts";

/** A subscription: the stored events and whether the run is over (its live events reach a LiveEvents). */
export interface Subscribed {
  events: RunEvent[];
  finished: boolean;
  unsubscribe: () => void;
}

/** Holds live events that arrive before the stream starts, then hands them on as they come. */
export class LiveEvents {
  private held: RunEvent[] = [];
  private sink: EventListener | null = null;
  readonly listener: EventListener = (e) => (this.sink ? this.sink(e) : void this.held.push(e));

  attach(sink: EventListener): void {
    this.sink = sink;
    for (const e of this.held.splice(0)) sink(e);
  }
}

const encoder = new TextEncoder();
const PING_MS = 15_000;

/**
 * One event on the wire, in pieces: a result's answer is the JSON POST /run sends and the store keeps (up to
 * MAX_OUTPUT_SIZE), spliced in as its own pieces (jsonPieces), not copied into one frame.
 * A result also says the HTTP status POST /run answered (or would answer) with.
 */
function framePieces(event: RunEvent): string[] {
  if (event.type !== "result") return [`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`];
  const head = JSON.stringify({ type: event.type, status: event.status, http_status: outcomeStatus(event.answer) });
  const tail = JSON.stringify({ run_id: event.run_id, seq: event.seq, time: event.time });
  return [`id: ${event.seq}\nevent: ${event.type}\ndata: ${head.slice(0, -1)},"answer":`, ...jsonPieces(event.answer), `,${tail.slice(1)}\n\n`];
}

export function formatEvent(event: RunEvent): string {
  return framePieces(event).join("");
}

/** Parses Last-Event-ID (the seq of the last event the client saw); null when absent, NaN when invalid. */
export function lastEventId(header: string | null): number | null {
  if (header === null || header.trim() === "") return null;
  return /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : Number.NaN;
}

/**
 * The stream: stored events first, then live ones, ending after `result`. The listener was registered
 * before the store was read, so nothing is lost; a number already sent is dropped, so nothing repeats.
 * Comments keep proxies from closing a quiet connection.
 */
export function eventStream(sub: Subscribed, live: LiveEvents, signal: AbortSignal): ReadableStream<Uint8Array> {
  let closed = false;
  let sent = 0;
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
    if (closed || !controller || event.seq <= sent) return;
    sent = event.seq;
    for (const piece of framePieces(event)) controller.enqueue(encoder.encode(piece));
    if (event.type === "result") close();
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      unsubscribe = sub.unsubscribe;
      for (const event of sub.events) send(event);
      if (sub.finished) return close();
      live.attach(send);
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

// A run's Server-Sent Events read with fetch streaming (EventSource cannot send the key), resumed with Last-Event-ID.
import { ApiError, isAbort, request } from "./api.ts";
import { asRunEvent, isRecord, type RunEvent } from "./types.ts";

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 5000;

export interface FollowOptions {
  path: string;
  signal: AbortSignal;
  onEvent: (event: RunEvent) => void;
  onReconnecting: (reconnecting: boolean) => void;
  /** The stream ended without a result: true to stop (the run is over), false to reconnect. */
  onEndWithoutResult: () => Promise<boolean>;
  /** A failure that stops the stream (404, a refused request). */
  onFatal: (error: ApiError) => void;
}

/** Splits a byte stream into SSE messages: `id`, `event` and `data` lines, a blank line ends one. */
export async function readMessages(body: ReadableStream<Uint8Array>, onMessage: (id: string | null, data: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let id: string | null = null;
  let data: string[] = [];
  const line = (text: string) => {
    if (text === "") {
      if (data.length > 0) onMessage(id, data.join("\n"));
      id = null;
      data = [];
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    const value = colon === -1 ? "" : text.slice(colon + (text[colon + 1] === " " ? 2 : 1));
    if (field === "data") data.push(value);
    else if (field === "id") id = value;
  };
  for (;;) {
    const { done, value } = await reader.read();
    buffer += decoder.decode(value, { stream: !done });
    // A trailing "\r" may be the first half of "\r\n": it stays with the unfinished line until more comes.
    const lines = buffer.split(done ? /\r\n|\r|\n/ : /\r\n|\n|\r(?!$)/);
    buffer = done ? "" : (lines.pop() ?? "");
    for (const l of lines) line(l);
    if (done) return;
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Follows a run's events until its result, reconnecting (backoff 0.5 s doubling to 5 s, reset by
 * any event) and dropping any event at or below the last seq seen, so none is shown twice.
 */
export async function followEvents(opts: FollowOptions): Promise<void> {
  let lastSeq = 0;
  let backoff = FIRST_BACKOFF_MS;
  const { signal } = opts;
  while (!signal.aborted) {
    let finished = false;
    try {
      const headers: Record<string, string> = { accept: "text/event-stream" };
      if (lastSeq > 0) headers["last-event-id"] = String(lastSeq);
      const res = await request(opts.path, { headers, signal, cache: "no-store" });
      if (!res.body) throw new ApiError("The event stream has no body", res.status, "bad_response");
      opts.onReconnecting(false);
      await readMessages(res.body, (id, data) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(data);
        } catch {
          return;
        }
        // An event of a type this page does not know still counts as seen, so a resume skips it.
        const seq = isRecord(parsed) && typeof parsed.seq === "number" ? parsed.seq : Number(id);
        if (!(seq > lastSeq)) return;
        lastSeq = seq;
        backoff = FIRST_BACKOFF_MS;
        const event = asRunEvent(parsed);
        if (!event) return;
        if (event.type === "result") finished = true;
        opts.onEvent(event);
      });
      if (finished || (await opts.onEndWithoutResult())) return;
    } catch (e) {
      if (signal.aborted || isAbort(e)) return;
      if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429) return opts.onFatal(e);
      if (finished) return;
    }
    if (signal.aborted) return;
    opts.onReconnecting(true);
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

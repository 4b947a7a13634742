// Reads a text/event-stream response into parsed events, for as many as the test wants.
import type { RunEvent } from "../../src/runs/model.ts";

export interface SseEvent {
  id: string | null;
  event: string | null;
  data: RunEvent;
}

/** Collects events until `stop` says so (then cancels the stream) or the stream ends. */
export async function readEvents(res: Response, stop: (e: SseEvent, all: SseEvent[]) => boolean = () => false): Promise<SseEvent[]> {
  if (!res.body) throw new Error("no body");
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = new Map<string, string>();
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const at = line.indexOf(":");
        fields.set(line.slice(0, at), line.slice(at + 1).trimStart());
      }
      if (!fields.has("data")) continue;
      const event: SseEvent = { id: fields.get("id") ?? null, event: fields.get("event") ?? null, data: JSON.parse(fields.get("data") as string) as RunEvent };
      events.push(event);
      if (stop(event, events)) {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}

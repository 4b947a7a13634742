// A run's outcome as an HTTP answer: the status comes from the code table, the body is the outcome itself.
import { jsonPieces } from "../lib/json-pieces.ts";
import type { RunOutcome } from "../runs/model.ts";
import { statusOf } from "./status.ts";

const HEADERS = { "content-type": "application/json;charset=utf-8" };
const encoder = new TextEncoder();

export function outcomeStatus(outcome: RunOutcome): number {
  return outcome.success ? 200 : statusOf(outcome.code);
}

/**
 * The outcome's JSON. A long output (or patch) is sent as it is made, a piece at a time, when the client reads
 * it (chunked, without a Content-Length): the whole text is never in memory beside the output itself.
 */
export function outcomeResponse(outcome: RunOutcome): Response {
  const status = outcomeStatus(outcome);
  const pieces = jsonPieces(outcome);
  const first = pieces.next();
  const second = pieces.next();
  if (second.done) return new Response(first.done ? "" : first.value, { status, headers: HEADERS });
  const ahead = [first, second];
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(controller) {
        const piece = ahead.shift() ?? pieces.next();
        if (piece.done) controller.close();
        else controller.enqueue(encoder.encode(piece.value));
      },
      cancel() {
        pieces.return(undefined);
      },
    }),
    { status, headers: HEADERS },
  );
}

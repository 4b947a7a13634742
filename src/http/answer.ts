// A run's outcome as an HTTP answer: the status comes from the code table, the body is the outcome itself.
import { jsonOnce } from "../lib/json-once.ts";
import type { RunOutcome } from "../runs/model.ts";
import { statusOf } from "./status.ts";

export function outcomeStatus(outcome: RunOutcome): number {
  return outcome.success ? 200 : statusOf(outcome.code);
}

export function outcomeResponse(outcome: RunOutcome): Response {
  return new Response(jsonOnce(outcome), { status: outcomeStatus(outcome), headers: { "content-type": "application/json;charset=utf-8" } });
}

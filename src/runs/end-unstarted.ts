// Ending a run that never started (cancelled or timed out in the queue): written only if it is still queued.
import type { Logger } from "../lib/logger.ts";
import type { RunStopped } from "./abort.ts";
import type { EventLog } from "./event-log.ts";
import type { RunEvent, RunOutcome, RunRecord, RunStatus } from "./model.ts";
import { outcomeOf, statusOfResult, unstartedResult } from "./outcome.ts";
import type { RunResult } from "./result.ts";
import type { StoreHealth } from "./store-health.ts";
import type { RunStore } from "./store.ts";

export interface UnstartedEnd {
  record: RunRecord;
  result: RunResult;
  status: RunStatus;
  outcome: RunOutcome;
}

/** Null when the run is not queued (any more: a replica, or this one, claimed it meanwhile) or the store failed. */
export async function endUnstarted(
  deps: { store: RunStore; events: EventLog; health: StoreHealth; logger: Logger; defaultModel: string | null },
  id: string,
  stop: RunStopped,
): Promise<UnstartedEnd | null> {
  let closing: readonly RunEvent[] = [];
  let made = false;
  try {
    const record = await deps.store.get(id);
    if (!record || record.status !== "queued") return null;
    const result = unstartedResult({ runId: id, requestId: record.requestId, model: record.model ?? deps.defaultModel, durationMs: 0, queueMs: Date.now() - record.createdAt }, stop.code, stop.message);
    const status = statusOfResult(result);
    const outcome = outcomeOf(result);
    const maker = (runId: string, lastSeq: number) => {
      made = true;
      return (closing = deps.events.maker([{ type: "status", status }, { type: "result", status, answer: outcome }])(runId, lastSeq));
    };
    const f = { status, code: outcome.success ? null : outcome.code, error: outcome.success ? null : outcome.error, at: Date.now(), outcome };
    if (!(await deps.store.finishQueued(id, f, maker))) return null;
    deps.events.publish(closing);
    return { record, result, status, outcome };
  } catch (err) {
    deps.health.fault(err);
    deps.logger.error("could not end a queued run", { run_id: id, error: err });
    return null;
  } finally {
    // Only if this call numbered the run's end: otherwise the number may be a claimer's (it runs here now).
    if (made) deps.events.forget(id);
  }
}

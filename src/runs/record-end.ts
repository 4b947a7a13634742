// Writing a run's end — status, outcome, last events — so that a store fault never holds the answer back.
import type { Logger } from "../lib/logger.ts";
import type { EventLog } from "./event-log.ts";
import type { RunEvent, RunOutcome, RunStatus } from "./model.ts";
import type { StoreHealth } from "./store-health.ts";
import type { RunStore } from "./store.ts";

/** Whoever asks for a run before its end is written (an Idempotency-Key retry) finds its outcome here. */
const MAX_UNRECORDED = 1000;

export class UnrecordedEnds {
  private readonly outcomes = new Map<string, RunOutcome>();

  get(id: string): RunOutcome | null {
    return this.outcomes.get(id) ?? null;
  }

  add(id: string, outcome: RunOutcome): void {
    this.outcomes.set(id, outcome);
    if (this.outcomes.size > MAX_UNRECORDED) this.outcomes.delete(this.outcomes.keys().next().value as string);
  }

  written(id: string): void {
    this.outcomes.delete(id);
  }
}

export function recordEnd(
  deps: { store: RunStore; events: EventLog; health: StoreHealth; logger: Logger },
  unrecorded: UnrecordedEnds,
  id: string,
  status: RunStatus,
  outcome: RunOutcome,
): void {
  let events: readonly RunEvent[] | null = null;
  // Numbering may need the store too: a retry does both, so the end is written even if numbering failed.
  const write = () => {
    events ??= deps.events.make(id, [{ type: "status", status }, { type: "result", status, answer: outcome }]);
    deps.store.finish(id, { status, code: outcome.success ? null : outcome.code, error: outcome.success ? null : outcome.error, at: Date.now(), outcome }, events);
    unrecorded.written(id);
  };
  try {
    write();
    deps.health.ok();
  } catch (err) {
    // The answer still goes out; the store gets it when it can be written again (or recovery marks the run).
    unrecorded.add(id, outcome);
    deps.health.fault(err, write);
    deps.logger.error("could not record a run's end", { run_id: id, error: err });
  }
  if (events) deps.events.publish(events);
  deps.events.forget(id);
}

// Writing a run's end — status, outcome, last events — so that a store fault never holds the answer back.
import type { Logger } from "../lib/logger.ts";
import type { EventLog } from "./event-log.ts";
import type { RunEvent, RunOutcome, RunStatus } from "./model.ts";
import type { StoreHealth } from "./store-health.ts";
import type { RunDiff, RunStore } from "./store.ts";

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

/** Writes the end of a run that ran here, with whatever of its events the store did not take yet. */
export async function recordEnd(
  deps: { store: RunStore; events: EventLog; health: StoreHealth; logger: Logger },
  unrecorded: UnrecordedEnds,
  id: string,
  status: RunStatus,
  outcome: RunOutcome,
  diff: RunDiff | null = null,
): Promise<void> {
  await deps.events.settled(id);
  // Events a store fault held back go first, in the same commit as the end: their order is kept.
  const held = deps.events.takePending(id);
  const end = deps.events.make(id, [{ type: "status", status }, { type: "result", status, answer: outcome }]);
  const events: readonly RunEvent[] = [...held, ...end];
  const f = { status, code: outcome.success ? null : outcome.code, error: outcome.success ? null : outcome.error, at: Date.now(), outcome, diff };
  // `drop`: the store answers probes but refuses this write (it can never fit): the end goes without the held events.
  const write = async (drop = false) => {
    try {
      await deps.store.finish(id, f, events);
    } catch (err) {
      if (!drop || held.length === 0) throw err;
      await deps.store.finish(id, f, end);
      deps.logger.error("a run's held events could not be stored and were dropped; its end was", { run_id: id, events: held.length, error: err });
    }
    unrecorded.written(id);
  };
  try {
    await write();
    deps.health.ok();
  } catch (err) {
    // The answer still goes out; the store gets it when it can be written again (or recovery marks the run).
    unrecorded.add(id, outcome);
    deps.health.fault(err, write);
    deps.logger.error("could not record a run's end", { run_id: id, error: err });
  }
  deps.events.publish(events);
  deps.events.forget(id);
}

// A running run's events: each counts as a sign of life, and is stored (in memory while the store cannot take it, up to a bound).
import type { Logger } from "../lib/logger.ts";
import { RunStopped } from "./abort.ts";
import type { ActiveRun } from "./active-run.ts";
import { MAX_BUFFERED_BYTES, type EventLog } from "./event-log.ts";
import type { RunEventBody } from "./model.ts";
import type { PipelineEvent } from "./pipeline.ts";
import type { StoreHealth } from "./store-health.ts";

/** Agent events that prove the agent is alive (and reset the idle timeout); only these are published. */
const PUBLISHED = new Set<string>(["status", "text", "tool", "usage", "git", "egress", "result"]);

/** A run whose events no longer fit in memory ends: its agent stops, and it says why. */
export function recordRunEvent(deps: { events: EventLog; health: StoreHealth; logger: Logger }, run: ActiveRun, body: PipelineEvent): void {
  if (body.type !== "status" && body.type !== "result") run.touch();
  if (body.type === "usage") run.stepEnded(body);
  if (!PUBLISHED.has(body.type) || run.storeFailed) return;
  const onFault = (err: unknown) => {
    if (deps.health.problem === null) deps.logger.error("could not record a run event: it waits in memory until the store is back", { run_id: run.record.id, error: err });
    deps.health.fault(err);
  };
  if (deps.events.append(run.record.id, body as RunEventBody, onFault)) return;
  run.storeFailed = true;
  deps.logger.error("the run store has been failing too long: the run's events no longer fit in memory and the run ends", { run_id: run.record.id, buffered_bytes: deps.events.backlog });
  run.abort(
    new RunStopped("internal", `The run store failed and the run's events outgrew the memory kept for them (${MAX_BUFFERED_BYTES / 1048576} MiB): the run was stopped (${deps.health.problem ?? "store unavailable"})`),
  );
}

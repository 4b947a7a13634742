// After a crash: runs left running become interrupted, their leftover processes and workspaces go; queued runs wait on.
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import type { Logger } from "../lib/logger.ts";
import { killRuns } from "../proc/process-tree.ts";
import type { EventLog } from "./event-log.ts";
import { outcomeOf, unstartedResult } from "./outcome.ts";
import type { RunStore } from "./store.ts";
import { workspacePrefix } from "./workspace.ts";

export const INTERRUPTED_REASON = "The server stopped (crash, kill or restart) before the run finished (it was running)";

/** Returns the ids of the runs it marked interrupted. */
export async function recoverRuns(store: RunStore, events: EventLog, opts: { workDir: string; logger: Logger }): Promise<string[]> {
  const now = Date.now();
  const ids = store.recoverRunning(now, INTERRUPTED_REASON);
  if (ids.length === 0) return ids;
  // The agents of a killed server keep running under PID 1 (unless a sandbox died with it): find them by their run cookie.
  const killed = await killRuns(ids);
  let entries: string[] = [];
  try {
    entries = readdirSync(opts.workDir);
  } catch {
    // WORK_DIR missing: nothing to remove.
  }
  const prefixes = ids.map(workspacePrefix);
  const removed = entries.filter((e) => prefixes.some((p) => e.startsWith(p)));
  for (const entry of removed) rmSync(path.join(opts.workDir, entry), { recursive: true, force: true });
  for (const id of ids) {
    const record = store.get(id);
    if (!record) continue;
    const outcome = outcomeOf(unstartedResult({ runId: id, requestId: record.requestId, model: record.model, durationMs: 0, queueMs: 0 }, "interrupted", INTERRUPTED_REASON));
    // Close the run's event stream the way every stream ends, so followers are not left waiting.
    const closing = events.make(id, [{ type: "status", status: "interrupted" }, { type: "result", status: "interrupted", answer: outcome }]);
    store.finish(id, { status: "interrupted", code: "interrupted", error: INTERRUPTED_REASON, at: now, outcome }, closing);
    events.forget(id);
  }
  opts.logger.warn("runs interrupted by the previous server process", { runs: ids, processes_killed: killed, workspaces_removed: removed.length });
  return ids;
}

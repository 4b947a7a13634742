// After a crash: runs left queued or running become interrupted, their leftover processes and workspaces go.
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import type { Logger } from "../lib/logger.ts";
import { killRuns } from "../proc/process-tree.ts";
import type { RunStore } from "../store/run-store.ts";
import { answerOf, unstartedResult } from "./answer.ts";
import { workspacePrefix } from "./workspace.ts";

export const INTERRUPTED_REASON = "The server stopped (crash, kill or restart) before the run finished";

/** Returns the ids of the runs it marked interrupted. */
export async function recoverRuns(store: RunStore, opts: { workDir: string; logger: Logger }): Promise<string[]> {
  const now = Date.now();
  const ids = store.recoverInterrupted(now, INTERRUPTED_REASON);
  if (ids.length === 0) return ids;
  // The agents of a killed server keep running under PID 1: find them by their run cookie.
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
    const row = store.get(id);
    if (!row) continue;
    const answer = answerOf(unstartedResult({ runId: id, requestId: row.request_id, model: row.model, durationMs: 0, queueMs: 0 }, "interrupted", row.error ?? INTERRUPTED_REASON));
    store.finish(id, { status: "interrupted", code: "interrupted", error: row.error, at: now, answer: JSON.stringify(answer.body), httpStatus: answer.status });
    // Close the run's event stream the way every stream ends, so followers are not left waiting.
    const last = store.lastSeq(id);
    store.appendEvent(id, last + 1, "status", JSON.stringify({ status: "interrupted" }), now);
    // The answer is added back from the run row when events are read.
    store.appendEvent(id, last + 2, "result", JSON.stringify({ status: "interrupted", http_status: answer.status }), now);
  }
  opts.logger.warn("runs interrupted by the previous server process", { runs: ids, processes_killed: killed, workspaces_removed: removed.length });
  return ids;
}

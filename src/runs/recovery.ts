// After a crash: runs left running become interrupted, their leftover processes and workspaces go; queued runs wait on.
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import type { Logger } from "../lib/logger.ts";
import { killRuns } from "../proc/process-tree.ts";
import type { EventLog } from "./event-log.ts";
import type { RunOutcome } from "./model.ts";
import { outcomeOf, unstartedResult } from "./outcome.ts";
import type { Finish, RunStore } from "./store.ts";
import { TRASH_PREFIX, workspacePrefix } from "./workspace.ts";

export const INTERRUPTED_REASON = "The server stopped (crash, kill or restart) before the run finished (it was running)";
export const LEASE_REASON = "The replica running it stopped renewing its lease (it died or lost the database) before the run finished";

/** What an interrupted run's end says, and the events that close its stream. */
export function interruption(events: EventLog, reason: string) {
  const f: Omit<Finish, "outcome"> = { status: "interrupted", code: "interrupted", error: reason, at: Date.now() };
  const outcome = (id: string, requestId: string, model: string | null): RunOutcome =>
    outcomeOf(unstartedResult({ runId: id, requestId, model, durationMs: 0, queueMs: 0 }, "interrupted", reason));
  // A stored result event takes its answer from the run row when it is read back; this one is a stand-in.
  const closing = (id: string, lastSeq: number) => {
    const answer = outcome(id, "", null);
    return events.maker([{ type: "status", status: "interrupted" }, { type: "result", status: "interrupted", answer }])(id, lastSeq);
  };
  return { f, outcome, closing };
}

/** Workspaces a stopped process was still deleting in the background (see createWorkspace). */
function emptyTrash(workDir: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(workDir).filter((e) => e.startsWith(TRASH_PREFIX));
  } catch {
    // WORK_DIR missing: nothing to remove.
  }
  for (const entry of entries) rmSync(path.join(workDir, entry), { recursive: true, force: true });
}

/** Returns the ids of the runs it marked interrupted. */
export async function recoverRuns(store: RunStore, events: EventLog, opts: { workDir: string; logger: Logger; replica: string }): Promise<string[]> {
  emptyTrash(opts.workDir);
  const { f, outcome, closing } = interruption(events, INTERRUPTED_REASON);
  const ids = await store.recoverRunning(opts.replica, f, outcome, closing);
  for (const id of ids) events.forget(id);
  if (ids.length === 0) return ids;
  // The agents of a killed server keep running under PID 1 (unless a sandbox died with it): find them by their run cookie.
  const killed = await killRuns(ids);
  let entries: string[] = [];
  try {
    entries = readdirSync(opts.workDir);
  } catch {
    // WORK_DIR missing: nothing to remove.
  }
  // A follow-up works in its thread's directory (named after the thread's first run).
  const threads = await Promise.all(ids.map((id) => store.get(id).then((r) => r?.threadId ?? id, () => id)));
  const prefixes = [...new Set([...ids, ...threads])].map(workspacePrefix);
  const removed = entries.filter((e) => prefixes.some((p) => e.startsWith(p)));
  for (const entry of removed) rmSync(path.join(opts.workDir, entry), { recursive: true, force: true });
  opts.logger.warn("runs interrupted by the previous server process", { runs: ids, processes_killed: killed, workspaces_removed: removed.length });
  return ids;
}

// A run's result as its outcome (the JSON POST /run answers with), and the status it ends in — nothing about HTTP here.
import type { ErrorCode } from "../errors.ts";
import { formatDuration } from "../lib/duration.ts";
import { emptyUsage } from "../opencode/types.ts";
import type { RunOutcome, RunRecord, RunStatus } from "./model.ts";
import type { GitOutcome } from "./repository.ts";
import type { RunResult } from "./result.ts";
import type { RunDiff, RunStore } from "./store.ts";

function gitFields(git: GitOutcome) {
  return {
    repository: git.repository,
    branch: git.branch,
    commit: git.commit,
    base_branch: git.baseBranch,
    base_commit: git.baseCommit,
    changed: git.changed,
    files_changed: git.filesChanged,
    pushed: git.pushed,
    push_note: git.pushNote,
    ...(git.patch !== null ? { patch: git.patch, patch_truncated: git.patchTruncated } : {}),
    ...(git.undeliveredPatch !== null ? { undelivered_patch: git.undeliveredPatch } : {}),
    ...(git.pullRequest !== null ? { pull_request: git.pullRequest } : {}),
    ...(git.pullRequestNote !== null ? { pull_request_note: git.pullRequestNote } : {}),
  };
}

/** The diff the store keeps for a run that changed something; none when the answer's patch already holds it (push: false). */
export function keptDiff(result: RunResult): RunDiff | null {
  const git = result.git;
  return git && git.patch === null && git.diff !== null ? { text: git.diff, truncated: git.diffTruncated } : null;
}

/** Whether GET /runs/{id}/diff has the run's change: the patch in its answer (push: false), or the diff kept at its end. */
export async function diffAvailable(store: Pick<RunStore, "hasDiff">, r: RunRecord): Promise<boolean> {
  const o = r.outcome;
  if (!o?.changed) return false;
  return o.patch !== undefined || (await store.hasDiff(r.id));
}

export function outcomeOf(result: RunResult): RunOutcome {
  const fields = {
    output: result.output,
    execution_time: formatDuration(result.durationMs),
    queue_time: formatDuration(result.queueMs),
    request_id: result.requestId,
    run_id: result.runId,
    session_id: result.sessionId,
    model: result.model,
    usage: result.usage,
    tools: result.tools,
    egress: result.egress,
    output_truncated: result.outputTruncated,
    exit_code: result.exitCode,
    ...(result.git ? gitFields(result.git) : {}),
    ...(result.budget ? { budget: result.budget } : {}),
    ...(result.owner ? { owner: result.owner } : {}),
    ...(result.parentRunId ? { parent_run_id: result.parentRunId, thread_id: result.threadId ?? result.parentRunId } : {}),
  };
  if (result.ok || !result.code) return { success: true, error: null, ...fields };
  return { success: false, code: result.code, error: result.error ?? "The run failed", ...(result.errorField ? { field: result.errorField } : {}), ...fields };
}

export function statusOfResult(result: Pick<RunResult, "ok" | "code">): RunStatus {
  if (result.ok) return "succeeded";
  switch (result.code) {
    case "timeout":
    case "idle_timeout":
      return "timed_out";
    case "cancelled":
    case "client_closed":
      return "cancelled";
    case "shutting_down":
    case "interrupted":
      return "interrupted";
    default:
      return "failed";
  }
}

/** The result of a run that ended before (or without) its agent: cancelled or timed out in the queue, interrupted, a store fault. */
export function unstartedResult(base: { runId: string; requestId: string; model: string | null; durationMs: number; queueMs: number }, code: ErrorCode, error: string): RunResult {
  return {
    ...base,
    ok: false,
    code,
    error,
    errorField: null,
    output: "",
    outputTruncated: false,
    usage: emptyUsage(),
    sessionId: null,
    tools: [],
    exitCode: null,
    git: null,
    survivors: [],
    egress: [],
  };
}

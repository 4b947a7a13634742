// The JSON a finished run answers with (what POST /run returns, what GET /runs/:id and the result event carry).
import { statusOf, type ErrorCode } from "../errors.ts";
import { formatDuration } from "../lib/duration.ts";
import { emptyUsage, type EgressSummary, type ToolCall, type Usage } from "../opencode/types.ts";
import type { GitOutcome } from "./repository.ts";
import type { RunResult } from "./result.ts";

export interface GitAnswerFields {
  repository: string;
  branch: string;
  commit: string | null;
  base_branch: string | null;
  base_commit: string | null;
  changed: boolean;
  files_changed: string[];
  pushed: boolean;
  push_note: string | null;
  patch?: string;
  patch_truncated?: boolean;
  undelivered_patch?: string;
}

export interface RunFields extends Partial<GitAnswerFields> {
  output: string;
  execution_time: string;
  queue_time: string;
  request_id: string;
  run_id: string;
  session_id: string | null;
  model: string | null;
  usage: Usage;
  tools: ToolCall[];
  egress: EgressSummary[];
  output_truncated: boolean;
  exit_code: number | null;
}

export type SuccessAnswer = RunFields & { success: true; error: null };
export type FailureAnswer = RunFields & { success: false; code: ErrorCode; error: string; field?: string };
export type RunAnswer = { status: 200; body: SuccessAnswer } | { status: number; body: FailureAnswer };

function gitFields(git: GitOutcome): GitAnswerFields {
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
  };
}

export function answerOf(result: RunResult): RunAnswer {
  const fields: RunFields = {
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
  };
  if (result.ok || !result.code) return { status: 200, body: { success: true, error: null, ...fields } };
  return {
    status: statusOf(result.code),
    body: {
      success: false,
      code: result.code,
      error: result.error ?? "The run failed",
      ...(result.errorField ? { field: result.errorField } : {}),
      ...fields,
    },
  };
}

/** The result of a run that ended before the agent started (cancelled or timed out in the queue, interrupted). */
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

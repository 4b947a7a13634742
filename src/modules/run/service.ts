// Runs a validated /run request through the run manager and shapes the seed's JSON answer.
import { statusOf } from "../../errors.ts";
import { formatDuration } from "../../lib/duration.ts";
import type { GitOutcome } from "../../runs/repository.ts";
import type { RunResult } from "../../runs/result.ts";
import type { RunInput, RunManager } from "../../runs/run-manager.ts";
import type { RunFailureBody, RunRequestBody, RunSuccessBody } from "./model.ts";

export type RunAnswer = { status: 200; body: RunSuccessBody } | { status: number; body: RunFailureBody };

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
  };
}

export function answerOf(result: RunResult): RunAnswer {
  const fields = {
    output: result.output,
    execution_time: formatDuration(result.durationMs),
    request_id: result.requestId,
    run_id: result.runId,
    session_id: result.sessionId,
    model: result.model,
    usage: result.usage,
    tools: result.tools,
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

export function runInputOf(body: RunRequestBody): RunInput {
  return {
    prompt: body.prompt,
    model: body.model ?? null,
    agent: body.agent ?? null,
    repository: body.repository
      ? { url: body.repository, branch: body.branch ?? null, base: body.base ?? null, push: body.push ?? true }
      : null,
  };
}

export class RunService {
  constructor(private readonly runs: RunManager) {}

  async execute(body: RunRequestBody, ctx: { requestId: string; signal: AbortSignal }): Promise<RunAnswer> {
    const result = await this.runs.run(runInputOf(body), { requestId: ctx.requestId, signal: ctx.signal });
    return answerOf(result);
  }
}

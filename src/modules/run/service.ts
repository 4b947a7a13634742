// Runs a validated /run request through the run manager and shapes the seed's JSON answer.
import { statusOf } from "../../errors.ts";
import { formatDuration } from "../../lib/duration.ts";
import type { RunResult } from "../../runs/result.ts";
import type { RunInput, RunManager } from "../../runs/run-manager.ts";
import type { RunFailureBody, RunRequestBody, RunSuccessBody } from "./model.ts";

export type RunAnswer = { status: 200; body: RunSuccessBody } | { status: number; body: RunFailureBody };

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
  };
  if (result.ok || !result.code) return { status: 200, body: { success: true, error: null, ...fields } };
  return {
    status: statusOf(result.code),
    body: { success: false, code: result.code, error: result.error ?? "The run failed", ...fields },
  };
}

export function runInputOf(body: RunRequestBody): RunInput {
  return { prompt: body.prompt, model: body.model ?? null, agent: body.agent ?? null };
}

export class RunService {
  constructor(private readonly runs: RunManager) {}

  async execute(body: RunRequestBody, ctx: { requestId: string; signal: AbortSignal }): Promise<RunAnswer> {
    const result = await this.runs.run(runInputOf(body), { requestId: ctx.requestId, signal: ctx.signal });
    return answerOf(result);
  }
}

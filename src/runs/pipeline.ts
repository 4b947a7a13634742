// One run from start to finish — workspace, agent, cleanup — and the result, whatever stopped it.
import type { ErrorCode } from "../errors.ts";
import type { Redactor } from "../lib/redact.ts";
import { emptyUsage, type AgentOutcome, type AgentRunner } from "../opencode/types.ts";
import { stopReason } from "./abort.ts";
import type { RunEventBody, RunStatus } from "./events.ts";
import type { RunResult } from "./result.ts";
import { createWorkspace } from "./workspace.ts";

export interface PipelineDeps {
  runner: AgentRunner;
  workDir: string;
  redactor: Redactor;
  defaultModel: string | null;
}

export interface RunSpec {
  runId: string;
  requestId: string;
  prompt: string;
  model: string | null;
  agent: string | null;
}

export function statusOfResult(result: Pick<RunResult, "ok" | "code">): RunStatus {
  if (result.ok) return "succeeded";
  switch (result.code) {
    case "timeout":
      return "timed_out";
    case "client_closed":
      return "cancelled";
    case "shutting_down":
      return "interrupted";
    default:
      return "failed";
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs the agent for `spec`; never throws for anything the run itself did. */
export async function executeRun(
  deps: PipelineDeps,
  spec: RunSpec,
  signal: AbortSignal,
  emit: (event: RunEventBody) => void,
): Promise<RunResult> {
  const started = performance.now();
  const model = spec.model ?? deps.defaultModel;
  emit({ type: "status", status: "running" });

  let outcome: AgentOutcome | null = null;
  let failure: { code: ErrorCode; message: string } | null = null;
  try {
    await using workspace = await createWorkspace(deps.workDir, spec.runId);
    outcome = await deps.runner.run({
      runId: spec.runId,
      prompt: spec.prompt,
      model,
      agent: spec.agent,
      cwd: workspace.dir,
      tmpDir: workspace.tmp,
      signal,
      onEvent: emit,
    });
  } catch (err) {
    failure = { code: "internal", message: `The run could not be carried out: ${describe(err)}` };
  }

  if (!failure && signal.aborted) {
    const reason = stopReason(signal);
    failure = { code: reason.code, message: reason.message };
  } else if (!failure && outcome && outcome.exitCode !== 0) {
    failure = { code: "agent_failed", message: `opencode failed: ${outcome.error ?? `exit code ${outcome.exitCode}`}` };
  }

  const result: RunResult = {
    runId: spec.runId,
    requestId: spec.requestId,
    ok: failure === null,
    code: failure?.code ?? null,
    error: failure ? deps.redactor.redact(failure.message) : null,
    output: deps.redactor.redact(outcome?.output ?? ""),
    outputTruncated: outcome?.outputTruncated ?? false,
    durationMs: performance.now() - started,
    usage: outcome?.usage ?? emptyUsage(),
    sessionId: outcome?.sessionId ?? null,
    tools: outcome?.tools ?? [],
    exitCode: outcome?.exitCode ?? null,
    model,
  };
  emit({ type: "status", status: statusOfResult(result) });
  emit({ type: "result", result });
  return result;
}

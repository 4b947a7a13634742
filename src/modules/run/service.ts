// Runs a validated /run request through the run manager and hands back the seed's JSON answer.
import type { FinishedRun, RunInput, RunManager } from "../../runs/run-manager.ts";
import type { RunRequestBody } from "./model.ts";

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

  /**
   * The synchronous door: waits in the same queue as /runs (MAX_EXECUTION_TIME counts from here).
   * A client that goes away cancels its run — unless it sent an Idempotency-Key, which says it will
   * retry and pick the same run up again.
   */
  async execute(body: RunRequestBody, ctx: { requestId: string; signal: AbortSignal; idempotencyKey: string | null }): Promise<FinishedRun> {
    const handle = this.runs.submit(runInputOf(body), { requestId: ctx.requestId, idempotencyKey: ctx.idempotencyKey, deadlineFromSubmission: true });
    if (ctx.idempotencyKey) return handle.done;
    const gone = () => void this.runs.cancel(handle.id, "client_closed");
    if (ctx.signal.aborted) gone();
    else ctx.signal.addEventListener("abort", gone, { once: true });
    try {
      return await handle.done;
    } finally {
      ctx.signal.removeEventListener("abort", gone);
    }
  }
}

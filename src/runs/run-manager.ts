// Owns the runs in flight: admission, the wall-clock timeout, client and shutdown aborts, draining.
import { randomUUID } from "node:crypto";
import { AppError } from "../errors.ts";
import { formatDuration } from "../lib/duration.ts";
import type { Logger } from "../lib/logger.ts";
import { RunStopped } from "./abort.ts";
import type { RunEventSink } from "./events.ts";
import { executeRun, statusOfResult, type PipelineDeps } from "./pipeline.ts";
import type { RunResult } from "./result.ts";

export interface RunInput {
  prompt: string;
  model: string | null;
  agent: string | null;
}

export interface RunOptions {
  requestId: string;
  /** Aborts when the caller goes away (e.g. the HTTP client disconnected). */
  signal?: AbortSignal;
  onEvent?: RunEventSink;
}

export interface RunManagerOptions {
  pipeline: PipelineDeps;
  maxExecutionMs: number;
  logger: Logger;
}

export class RunManager {
  private readonly active = new Map<string, AbortController>();
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: RunManagerOptions) {}

  get inFlight(): number {
    return this.active.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async run(input: RunInput, opts: RunOptions): Promise<RunResult> {
    if (this.draining) throw new AppError("shutting_down", "The server is shutting down and accepts no new runs");
    const runId = randomUUID();
    const controller = new AbortController();
    const limit = this.opts.maxExecutionMs;
    const timer = setTimeout(
      () => controller.abort(new RunStopped("timeout", `Execution timeout: the run exceeded MAX_EXECUTION_TIME (${formatDuration(limit)})`)),
      limit,
    );
    const clientGone = () => controller.abort(new RunStopped("client_closed", "The client closed the connection"));
    if (opts.signal?.aborted) clientGone();
    else opts.signal?.addEventListener("abort", clientGone, { once: true });

    const log = this.opts.logger.child({ request_id: opts.requestId, run_id: runId });
    const redactor = this.opts.pipeline.redactor;
    let seq = 0;
    const emit = opts.onEvent;
    this.active.set(runId, controller);
    log.info("run started", { prompt_chars: input.prompt.length, model: input.model ?? this.opts.pipeline.defaultModel, agent: input.agent });
    try {
      const result = await executeRun(this.opts.pipeline, { runId, requestId: opts.requestId, ...input }, controller.signal, (body) =>
        emit?.({ ...redactor.redactDeep(body), run_id: runId, seq: ++seq, time: new Date().toISOString() }),
      );
      const fields = {
        status: statusOfResult(result),
        code: result.code,
        exit_code: result.exitCode,
        duration_ms: Math.round(result.durationMs),
        execution_time: formatDuration(result.durationMs),
        output_bytes: Buffer.byteLength(result.output),
        output_truncated: result.outputTruncated,
        error: result.error,
      };
      if (result.ok) log.info("run finished", fields);
      else log.warn("run finished", fields);
      return result;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", clientGone);
      this.active.delete(runId);
      if (this.active.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** Ids of the runs in flight. */
  activeRunIds(): string[] {
    return [...this.active.keys()];
  }

  /** Refuses new runs from now on. */
  beginDrain(): void {
    this.draining = true;
  }

  /** Resolves true once no run is in flight, or false after `timeoutMs`. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.active.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(wake);
    });
  }

  abortAll(reason: RunStopped): void {
    for (const controller of this.active.values()) controller.abort(reason);
  }
}

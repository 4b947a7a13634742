// Owns the runs in flight: admission, the wall-clock timeout, client and shutdown aborts, draining.
import { randomUUID } from "node:crypto";
import { AppError } from "../errors.ts";
import { RepositoryUrlError, resolveRepositoryUrl, type RepoPrefix } from "../git/url-policy.ts";
import { formatDuration } from "../lib/duration.ts";
import type { Logger } from "../lib/logger.ts";
import { RunStopped } from "./abort.ts";
import type { RunEventSink } from "./events.ts";
import { executeRun, statusOfResult, type PipelineDeps } from "./pipeline.ts";
import type { RepoRequest } from "./repository.ts";
import type { RunResult } from "./result.ts";

export interface RunInput {
  prompt: string;
  model: string | null;
  agent: string | null;
  repository: { url: string; branch: string | null; base: string | null; push: boolean } | null;
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
  /** ALLOWED_REPO_PREFIXES, parsed. */
  allowedRepos: readonly RepoPrefix[];
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

  /** Checks the repository against the allow-list before anything runs (400 malformed, 403 not allowed). */
  private repoRequest(input: RunInput): RepoRequest | null {
    if (!input.repository) return null;
    const { url, branch, base, push } = input.repository;
    try {
      return { url: resolveRepositoryUrl(url, this.opts.allowedRepos), branch, base, push };
    } catch (err) {
      if (!(err instanceof RepositoryUrlError)) throw err;
      if (err.kind === "not_allowed") throw new AppError("repository_not_allowed", err.message);
      throw new AppError("invalid_request", `Invalid field "repository": ${err.message}`, { field: "repository" });
    }
  }

  async run(input: RunInput, opts: RunOptions): Promise<RunResult> {
    if (this.draining) throw new AppError("shutting_down", "The server is shutting down and accepts no new runs");
    const repo = this.repoRequest(input);
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
    log.info("run started", {
      prompt_chars: input.prompt.length,
      model: input.model ?? this.opts.pipeline.defaultModel,
      agent: input.agent,
      repository: repo?.url.href ?? null,
      branch: repo?.branch ?? null,
    });
    const spec = { runId, requestId: opts.requestId, prompt: input.prompt, model: input.model, agent: input.agent, repo };
    try {
      const result = await executeRun(this.opts.pipeline, spec, controller.signal, (body) =>
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
        ...(result.git
          ? { branch: result.git.branch, commit: result.git.commit, changed: result.git.changed, pushed: result.git.pushed, push_note: result.git.pushNote }
          : {}),
      };
      if (result.survivors.length > 0) log.error("agent processes survived cleanup", { pids: result.survivors });
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

// Owns every run from submission to its end: queue, concurrency, per-branch serialisation, timeouts,
// cancellation, idempotency, persistence of runs and events, live subscribers, and draining at shutdown.
import { createHash } from "node:crypto";
import { AppError, type ErrorCode } from "../errors.ts";
import { RepositoryUrlError, resolveRepositoryUrl, type RepoPrefix } from "../git/url-policy.ts";
import { formatDuration } from "../lib/duration.ts";
import type { Logger } from "../lib/logger.ts";
import type { ModelCatalog } from "../opencode/model-catalog.ts";
import type { RunRow, RunStore, StoredStatus } from "../store/run-store.ts";
import { RunStopped, type StopCode } from "./abort.ts";
import { answerOf, unstartedResult, type FailureAnswer, type SuccessAnswer } from "./answer.ts";
import type { RunEvent, RunEventBody, RunStatus } from "./events.ts";
import { executeRun, statusOfResult, type PipelineDeps, type RunSpec } from "./pipeline.ts";
import { newRunId } from "./ids.ts";
import type { RepoRequest } from "./repository.ts";
import type { RunResult } from "./result.ts";

export interface RunInput {
  prompt: string;
  model: string | null;
  agent: string | null;
  repository: { url: string; branch: string | null; base: string | null; push: boolean } | null;
}

export interface SubmitOptions {
  requestId: string;
  idempotencyKey?: string | null;
  /** The synchronous door: MAX_EXECUTION_TIME counts from submission, so it covers the wait in the queue. */
  deadlineFromSubmission?: boolean;
}

export interface FinishedRun {
  status: RunStatus;
  httpStatus: number;
  answer: SuccessAnswer | FailureAnswer;
  /** `answer` serialised: made once, for the store and the HTTP answer alike. */
  json: string;
}

export interface RunHandle {
  id: string;
  /** True when the Idempotency-Key matched an earlier submission: this is that run. */
  replayed: boolean;
  done: Promise<FinishedRun>;
}

/** Hooks for metrics; the manager never knows what is behind them. */
export interface RunObserver {
  runFinished(result: RunResult, status: RunStatus, started: boolean): void;
}

export interface RunManagerOptions {
  pipeline: PipelineDeps;
  store: RunStore;
  logger: Logger;
  maxExecutionMs: number;
  /** 0: no idle timeout. */
  idleTimeoutMs: number;
  maxConcurrent: number;
  maxQueued: number;
  allowedRepos: readonly RepoPrefix[];
  /** The models opencode can use; a request naming another is refused before anything runs. */
  models?: ModelCatalog;
  observer?: RunObserver;
}

export type EventListener = (event: RunEvent) => void;

interface ActiveRun {
  id: string;
  spec: RunSpec;
  /** repository#branch for runs that must not overlap; null when the branch is the run's own. */
  lock: string | null;
  state: "queued" | "running";
  submittedAt: number;
  startedAt: number | null;
  controller: AbortController;
  wallTimer?: ReturnType<typeof setTimeout>;
  idleTimer?: ReturnType<typeof setTimeout>;
  seq: number;
  listeners: Set<EventListener>;
  done: Promise<FinishedRun>;
  resolve: (finished: FinishedRun) => void;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** Agent events that prove the agent is alive (and reset the idle timeout); only some are published. */
const PUBLISHED = new Set(["status", "text", "tool", "usage", "git", "egress", "result"]);

function fingerprint(input: RunInput): string {
  return createHash("sha256").update(JSON.stringify([input.prompt, input.model, input.agent, input.repository])).digest("hex");
}

export class RunManager {
  private readonly active = new Map<string, ActiveRun>();
  private readonly queue: ActiveRun[] = [];
  private readonly locks = new Set<string>();
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  /** Moving average of run durations, for Retry-After. */
  private avgRunMs = 60_000;

  constructor(private readonly opts: RunManagerOptions) {}

  get inFlight(): number {
    return this.active.size - this.queue.length;
  }

  get queued(): number {
    return this.queue.length;
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

  /** Accepts a run (or finds the earlier one with the same Idempotency-Key); it starts when a slot is free. */
  submit(input: RunInput, opts: SubmitOptions): RunHandle {
    if (this.draining) throw new AppError("shutting_down", "The server is shutting down and accepts no new runs");
    const key = opts.idempotencyKey ?? null;
    const print = fingerprint(input);
    if (key !== null) {
      if (!IDEMPOTENCY_KEY.test(key)) throw new AppError("invalid_request", "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces");
      const earlier = this.opts.store.byIdempotencyKey(key);
      if (earlier) return this.replay(earlier, print);
    }
    const modelProblem = input.model ? this.opts.models?.problem(input.model) : null;
    if (modelProblem) throw new AppError("invalid_request", `Invalid field "model": ${modelProblem}`, { field: "model" });
    const repo = this.repoRequest(input);
    const model = input.model ?? this.opts.pipeline.defaultModel;
    const lock = repo?.branch ? `${repo.url.href}#${repo.branch}` : null;
    const canStartNow = this.inFlight < this.opts.maxConcurrent && !(lock && this.locks.has(lock));
    if (!canStartNow && this.queue.length >= this.opts.maxQueued) {
      const waves = Math.ceil((this.queue.length + 1) / Math.max(1, this.opts.maxConcurrent));
      const retryAfter = Math.min(3600, Math.max(1, Math.round((this.avgRunMs * waves) / 1000)));
      throw new AppError("rate_limited", `Too many runs: ${this.inFlight} running and ${this.queue.length} queued (MAX_QUEUED_RUNS); retry later`, {
        retry_after: retryAfter,
      });
    }

    const id = newRunId();
    const now = Date.now();
    const store = this.opts.store;
    store.transaction(() => store.create({
      id,
      request_id: opts.requestId,
      created_at: now,
      idempotency_key: key,
      fingerprint: print,
      prompt_chars: input.prompt.length,
      model,
      agent: input.agent,
      repository: repo?.url.href ?? null,
      branch: repo?.branch ?? null,
      base: repo?.base ?? null,
      push: repo ? Number(repo.push) : null,
    }));
    let resolve!: (f: FinishedRun) => void;
    const run: ActiveRun = {
      id,
      spec: { runId: id, requestId: opts.requestId, prompt: input.prompt, model: input.model, agent: input.agent, repo },
      lock,
      state: "queued",
      submittedAt: now,
      startedAt: null,
      controller: new AbortController(),
      seq: 0,
      listeners: new Set(),
      done: new Promise<FinishedRun>((r) => (resolve = r)),
      resolve: (f) => resolve(f),
    };
    this.active.set(id, run);
    this.queue.push(run);
    this.opts.logger.info("run queued", {
      request_id: opts.requestId,
      run_id: id,
      prompt_chars: input.prompt.length,
      model,
      agent: input.agent,
      repository: repo?.url.href ?? null,
      branch: repo?.branch ?? null,
    });
    this.emit(run, { type: "status", status: "queued" });
    if (opts.deadlineFromSubmission) this.armWallTimer(run);
    this.pump();
    return { id, replayed: false, done: run.done };
  }

  private replay(row: RunRow, print: string): RunHandle {
    if (row.fingerprint !== print) {
      throw new AppError("idempotency_conflict", "This Idempotency-Key was already used for a different request");
    }
    const live = this.active.get(row.id);
    return { id: row.id, replayed: true, done: live ? live.done : Promise.resolve(this.finishedFromRow(row)) };
  }

  private finishedFromRow(row: RunRow): FinishedRun {
    if (row.answer) return { status: row.status as RunStatus, httpStatus: row.http_status ?? 200, answer: JSON.parse(row.answer) as FinishedRun["answer"], json: row.answer };
    const code = (row.code ?? "interrupted") as ErrorCode;
    const answer = answerOf(unstartedResult({ runId: row.id, requestId: row.request_id, model: row.model, durationMs: 0, queueMs: 0 }, code, row.error ?? "The run did not finish"));
    return { status: row.status as RunStatus, httpStatus: answer.status, answer: answer.body, json: JSON.stringify(answer.body) };
  }

  /** Starts queued runs while slots are free, skipping runs whose branch is busy. */
  private pump(): void {
    for (let i = 0; i < this.queue.length && this.inFlight < this.opts.maxConcurrent; ) {
      const run = this.queue[i] as ActiveRun;
      if (run.lock && this.locks.has(run.lock)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(run);
    }
  }

  private armWallTimer(run: ActiveRun): void {
    const limit = this.opts.maxExecutionMs;
    run.wallTimer = setTimeout(() => {
      if (run.state === "queued") {
        const waited = formatDuration(Date.now() - run.submittedAt);
        this.finishUnstarted(run, new RunStopped("timeout", `Execution timeout: the run waited ${waited} in the queue and MAX_EXECUTION_TIME (${formatDuration(limit)}) passed before it could start`));
      } else {
        run.controller.abort(new RunStopped("timeout", `Execution timeout: the run exceeded MAX_EXECUTION_TIME (${formatDuration(limit)})`));
      }
    }, limit);
  }

  private armIdleTimer(run: ActiveRun): void {
    const limit = this.opts.idleTimeoutMs;
    if (limit <= 0 || run.state !== "running") return;
    clearTimeout(run.idleTimer);
    run.idleTimer = setTimeout(
      () => run.controller.abort(new RunStopped("idle_timeout", `Idle timeout: no activity from the agent for IDLE_TIMEOUT (${formatDuration(limit)})`)),
      limit,
    );
  }

  private start(run: ActiveRun): void {
    run.state = "running";
    run.startedAt = Date.now();
    if (run.lock) this.locks.add(run.lock);
    if (!run.wallTimer) this.armWallTimer(run);
    this.armIdleTimer(run);
    const startedAt = run.startedAt;
    this.opts.store.transaction(() => {
      this.opts.store.markRunning(run.id, startedAt);
      this.emit(run, { type: "status", status: "running" });
    });
    this.opts.logger.info("run started", { request_id: run.spec.requestId, run_id: run.id, waited_ms: run.startedAt - run.submittedAt });
    executeRun(this.opts.pipeline, run.spec, run.controller.signal, (body) => this.emit(run, body))
      .catch((err: unknown) => {
        this.opts.logger.error("run pipeline threw", { run_id: run.id, error: err });
        return unstartedResult({ runId: run.id, requestId: run.spec.requestId, model: run.spec.model, durationMs: Date.now() - startedAt, queueMs: 0 }, "internal", "Internal server error");
      })
      .then((result) => this.finish(run, { ...result, queueMs: startedAt - run.submittedAt }, true));
  }

  /** Persists, publishes and (for agent events) counts as activity. */
  private emit(run: ActiveRun, body: RunEventBody): void {
    if (body.type !== "status" && body.type !== "result") this.armIdleTimer(run);
    if (!PUBLISHED.has(body.type)) return;
    const event = { ...this.opts.pipeline.redactor.redactDeep(body), run_id: run.id, seq: ++run.seq, time: new Date().toISOString() } as RunEvent;
    try {
      const { run_id: _r, seq: _s, time: _t, type, ...data } = event;
      // A result's answer is on the run row already: the store adds it back when events are read.
      const stored = type === "result" ? { ...data, answer: undefined } : data;
      this.opts.store.appendEvent(run.id, event.seq, type, JSON.stringify(stored), Date.now());
    } catch (err) {
      this.opts.logger.error("could not store a run event", { run_id: run.id, seq: event.seq, error: err });
    }
    for (const listener of run.listeners) listener(event);
  }

  private finishUnstarted(run: ActiveRun, stop: RunStopped): void {
    const index = this.queue.indexOf(run);
    if (index !== -1) this.queue.splice(index, 1);
    const result = unstartedResult({ runId: run.id, requestId: run.spec.requestId, model: run.spec.model ?? this.opts.pipeline.defaultModel, durationMs: 0, queueMs: Date.now() - run.submittedAt }, stop.code, stop.message);
    this.finish(run, result, false);
  }

  private finish(run: ActiveRun, result: RunResult, started: boolean): void {
    clearTimeout(run.wallTimer);
    clearTimeout(run.idleTimer);
    if (run.lock && run.state === "running") this.locks.delete(run.lock);
    const status = statusOfResult(result);
    const answer = answerOf(result);
    const json = JSON.stringify(answer.body);
    this.opts.store.transaction(() => {
      this.opts.store.finish(run.id, {
        status: status as StoredStatus,
        code: result.code,
        error: result.error,
        at: Date.now(),
        answer: json,
        httpStatus: answer.status,
      });
      this.emit(run, { type: "status", status });
      this.emit(run, { type: "result", status, http_status: answer.status, answer: answer.body });
    });
    if (started) this.avgRunMs = this.avgRunMs * 0.8 + result.durationMs * 0.2;
    this.opts.observer?.runFinished(result, status, started);
    this.log(run, result, status);
    this.active.delete(run.id);
    run.listeners.clear();
    run.resolve({ status, httpStatus: answer.status, answer: answer.body, json });
    this.pump();
    if (this.active.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private log(run: ActiveRun, result: RunResult, status: RunStatus): void {
    const fields = {
      request_id: run.spec.requestId,
      run_id: run.id,
      status,
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
    if (result.survivors.length > 0) this.opts.logger.error("agent processes survived cleanup", { run_id: run.id, pids: result.survivors });
    if (result.ok) this.opts.logger.info("run finished", fields);
    else this.opts.logger.warn("run finished", fields);
  }

  /**
   * Stops a run and resolves once it has ended (its processes gone, its workspace removed).
   * Null when no such run exists; `finished` when it had already ended.
   */
  async cancel(id: string, code: Extract<StopCode, "cancelled" | "client_closed"> = "cancelled"): Promise<{ finished: FinishedRun; alreadyFinished: boolean } | null> {
    const run = this.active.get(id);
    if (!run) {
      const row = this.opts.store.get(id);
      return row ? { finished: this.finishedFromRow(row), alreadyFinished: true } : null;
    }
    const message = code === "client_closed" ? "The client closed the connection" : "The run was cancelled";
    if (run.state === "queued") this.finishUnstarted(run, new RunStopped(code, `${message} before it started`));
    else run.controller.abort(new RunStopped(code, message));
    return { finished: await run.done, alreadyFinished: false };
  }

  /** Position in the queue (1 = next), or null when not queued. */
  queuePosition(id: string): number | null {
    const index = this.queue.findIndex((r) => r.id === id);
    return index === -1 ? null : index + 1;
  }

  /**
   * Events after `afterSeq`, and (for a run still going) a subscription to the ones to come. The
   * listener is registered and the store read in one synchronous step, so nothing is missed or
   * delivered twice. Null when no such run exists.
   */
  subscribe(id: string, afterSeq: number, listener: EventListener): { events: RunEvent[]; live: boolean; unsubscribe: () => void } | null {
    const row = this.opts.store.get(id);
    if (!row) return null;
    const run = this.active.get(id);
    run?.listeners.add(listener);
    const events = this.opts.store.events(id, afterSeq).map(
      (e) => ({ ...(JSON.parse(e.data) as object), type: e.type, run_id: id, seq: e.seq, time: new Date(e.time).toISOString() }) as RunEvent,
    );
    return { events, live: run !== undefined, unsubscribe: () => run?.listeners.delete(listener) };
  }

  /** Refuses new runs from now on; runs still waiting in the queue end as interrupted. */
  beginDrain(): void {
    this.draining = true;
    for (const run of [...this.queue]) this.finishUnstarted(run, new RunStopped("shutting_down", "The server shut down before the run started"));
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

  /** Ids of the runs in flight. */
  activeRunIds(): string[] {
    return [...this.active.keys()];
  }

  abortAll(reason: RunStopped): void {
    for (const run of this.active.values()) {
      if (run.state === "queued") this.finishUnstarted(run, reason);
      else run.controller.abort(reason);
    }
  }
}

// Starts queued runs while slots are free (per-branch locks, timers) and hands their ends to RunEnds — no failure in between escapes a run.
import { IdleSignal } from "../lib/idle-signal.ts";
import { SerialTask } from "../lib/serial-task.ts";
import type { Logger } from "../lib/logger.ts";
import { RunStopped, type StopCode } from "./abort.ts";
import { ActiveRun, PendingStart } from "./active-run.ts";
import { ClaimGuard } from "./claim-guard.ts";
import type { EventLog } from "./event-log.ts";
import type { QueuedRequest, RunEvent, RunOutcome, RunRecord, RunStatus } from "./model.ts";
import { endUnstarted } from "./end-unstarted.ts";
import { outcomeOf, statusOfResult, unstartedResult } from "./outcome.ts";
import { STORED, type PipelineEvent, type RanRun, type RunSpec, type StartGate } from "./pipeline.ts";
import type { RepoRequest } from "./repository.ts";
import type { RunResult } from "./result.ts";
import { recordRunEvent } from "./run-events.ts";
import { RunEnds } from "./run-ends.ts";
import { launch, specOf, withThread } from "./run-start.ts";
import { logRunEnd } from "./run-log.ts";
import type { StoreHealth } from "./store-health.ts";
import type { Claimed, RunStore } from "./store.ts";
import { SyncDeadlines } from "./timeouts.ts";

/** Hooks for metrics; the scheduler never knows what is behind them. */
export interface RunObserver {
  /** `owner`: the run's key name (per-key counters); null without keys. */
  runFinished(result: RunResult, status: RunStatus, started: boolean, owner: string | null): void;
}

export interface SchedulerDeps {
  store: RunStore;
  events: EventLog;
  health: StoreHealth;
  logger: Logger;
  observer?: RunObserver;
  execute(spec: RunSpec, signal: AbortSignal, emit: (e: PipelineEvent) => void, gate: StartGate): Promise<RanRun>;
  /** Turns a claimed request's repository back into what the pipeline needs (the URL was checked when it was queued). */
  repoOf(request: Claimed["request"]): RepoRequest | null;
  defaultModel: string | null;
  maxConcurrent: number;
  maxExecutionMs: number;
  /** 0: no idle timeout. */
  idleTimeoutMs: number;
  /** A run ended (here): its outcome, for whoever waits in this process. */
  onFinished(id: string, outcome: RunOutcome): void;
  /** A run's end is in the store (its webhook deliveries with it): whoever reads the store for it may look now. */
  onRecorded?(id: string): void;
  /** REPLICA_ID: written on the runs this process claims. */
  replica: string;
  /** LEASE_TIMEOUT: how long a claimed run's lease lasts without renewal (shared stores). */
  leaseMs: number;
  /** KEEP_SESSIONS: store each run's session for its follow-ups. */
  keepSessions: boolean;
  /** END_DELAY_MS unless a test says otherwise. */
  endDelayMs?: number;
}

export class Scheduler {
  private readonly active = new Map<string, ActiveRun>();
  private readonly deadlines: SyncDeadlines;
  private readonly locks = new Set<string>();
  private draining = false;
  private readonly claims: ClaimGuard;
  private readonly idle = new IdleSignal();
  private readonly pumps = new SerialTask(() => this.pumpLoop());
  /** Until the first pump, the queue may hold runs an earlier process left: a new run must not overtake them. */
  private pumped = false;
  /** Writes the ends of the runs that ran here, and counts those answered and not written yet. */
  private readonly ends: RunEnds;
  /** A pass found the queue empty and nothing was queued since: only then may an end wait (END_DELAY_MS). */
  private queueSeenEmpty = false;
  /** Counts every change this process makes to the queue (a run queued, claimed or ended there): cached counts compare it. */
  queueChanges = 0;
  /** Moving average of run durations, for Retry-After. */
  avgRunMs = 60_000;

  constructor(private readonly deps: SchedulerDeps) {
    this.deadlines = new SyncDeadlines(deps.maxExecutionMs);
    this.ends = new RunEnds(deps, deps.endDelayMs);
    this.claims = new ClaimGuard({ ...deps, endQueued: (id, stop) => this.endQueued(id, stop) });
  }

  /** Ends that could not be written yet: their outcome, for whoever asks before the store takes them. */
  get unrecorded(): RunEnds["unrecorded"] {
    return this.ends.unrecorded;
  }

  get inFlight(): number {
    return this.active.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** MAX_CONCURRENT_RUNS here. */
  get slots(): number {
    return this.deps.maxConcurrent;
  }

  canStartNow(lock: string | null): boolean {
    return !this.draining && this.active.size < this.deps.maxConcurrent && !(lock && this.locks.has(lock));
  }

  isActive(id: string): boolean {
    return this.active.has(id);
  }

  /** The synchronous door's clock: from submission, over the queue and the run. */
  armDeadline(id: string, submittedAt: number): void {
    this.deadlines.arm(
      id,
      submittedAt,
      (runId, stop, running) => (running ? this.active.get(runId)?.abort(stop) : void this.endQueued(runId, stop)),
      (runId) => this.active.has(runId),
    );
  }

  /** A run was queued here: the ends that free its slot or its branch are written without waiting. */
  queued(): void {
    this.queueChanges++;
    this.queueSeenEmpty = false;
    this.ends.hurry();
  }

  /** A run that was never queued after all (refused, or a duplicate): its deadline goes. */
  dropDeadline(id: string): void {
    this.deadlines.clear(id);
  }

  /** Starts queued runs, oldest first, while slots are free and their branch is not busy (one pass at a time). */
  pump(): void {
    this.pumped = true;
    this.pumps.run();
  }

  /** Resolves once the pass in progress (if any) is over: shutdown waits for it before closing the store. */
  settled(): Promise<void> {
    return this.pumps.settled();
  }

  private async pumpLoop(): Promise<void> {
    while (this.canStartNow(null) && !this.claims.isBlocked) {
      // Nothing locked: a claim that finds nothing means an empty queue (unless a run was queued meanwhile).
      const seen = this.locks.size === 0 ? this.queueChanges : null;
      const next = await this.claims.next((lock) => this.locks.has(lock));
      if (!next) {
        if (!this.claims.isBlocked && seen === this.queueChanges) this.queueSeenEmpty = true;
        return;
      }
      this.queueChanges++;
      this.start(next.claimed, next.started);
    }
  }

  /**
   * Whether a new run may skip the queue: a slot is free and its branch is not busy — what pump would pick
   * anyway, since everything still queued is waiting for a lock.
   */
  canStartAtOnce(lock: string | null): boolean {
    return this.pumped && this.canStartNow(lock) && !this.claims.isBlocked;
  }

  /**
   * Starts a run that skips the queue (see canStartAtOnce) before it is stored: the service writes it (as running,
   * with `events`) once it reaches its agent, which gets its prompt only then, and settles the start it is given.
   */
  admit(record: RunRecord, request: QueuedRequest, lock: string | null, events: readonly RunEvent[]): PendingStart {
    const gate = new PendingStart();
    this.start({ record, request, lock }, events, gate);
    return gate;
  }

  /** The run's start could not be stored: it stops, and leaves nothing (the service refuses its request). */
  notStored(id: string, stop: RunStopped): void {
    const run = this.active.get(id);
    if (!run) return;
    run.storeFailed = true;
    run.abort(stop);
  }

  /** Called by the store's health probe once it works again. */
  resume(): void {
    this.claims.unblock();
    this.pump();
  }

  private start(c: Claimed, startEvents: readonly RunEvent[], pending: PendingStart | null = null): void {
    const { record, request } = c;
    const atOnce = pending !== null;
    const startedAt = record.startedAt ?? Date.now();
    const spec = specOf(record, request, this.deps.repoOf(request));
    const run = new ActiveRun(record, spec, c.lock, startedAt, this.deps.idleTimeoutMs, pending ?? STORED);
    this.active.set(record.id, run);
    if (run.lock) this.locks.add(run.lock);
    if (!this.deadlines.has(record.id)) run.armWall(this.deps.maxExecutionMs);
    run.touch();
    this.deps.events.publish(startEvents);
    // A run that never waited is told by its end line alone (it says how long it waited); one from the queue says it started.
    this.deps.logger[atOnce ? "debug" : "info"]("run started", { request_id: record.requestId, run_id: record.id, waited_ms: startedAt - record.createdAt });
    // A run that could not even be marked running still goes through the pipeline's own abort path.
    launch(this.deps, run, spec, (e) => recordRunEvent(this.deps, run, e))
      .catch((err: unknown): RanRun => {
        this.deps.logger.error("run pipeline threw", { run_id: record.id, error: err });
        const result = unstartedResult({ runId: record.id, requestId: record.requestId, model: record.model, durationMs: Date.now() - startedAt, queueMs: 0 }, "internal", "Internal server error");
        return { result, cleanup: () => Promise.resolve() };
      })
      .finally(() => run.gate.reached())
      .then((ran) => this.finish(run.record, { ...ran.result, queueMs: startedAt - record.createdAt }, ran.cleanup))
      .catch((err: unknown) => this.deps.logger.error("ending a run failed", { run_id: record.id, error: err }));
  }

  /** Ends a run that is waiting in the queue (cancelled, timed out there): it never starts. False when it is not queued (any more). */
  async endQueued(id: string, stop: RunStopped): Promise<boolean> {
    if (this.active.has(id)) return false;
    const ended = await endUnstarted(this.deps, id, stop);
    if (!ended) return false;
    this.queueChanges++;
    this.deadlines.clear(id);
    this.deps.observer?.runFinished(ended.result, ended.status, false, ended.record.owner);
    logRunEnd(this.deps.logger, ended.record, ended.result, ended.status);
    this.deps.onFinished(id, ended.outcome);
    this.deps.onRecorded?.(id);
    this.pump();
    return true;
  }

  /** Stops a running run (it ends through the pipeline) or ends a queued one; false when it is neither here nor queued. */
  async cancel(id: string, code: Extract<StopCode, "cancelled" | "client_closed">): Promise<boolean> {
    const message = code === "client_closed" ? "The client closed the connection" : "The run was cancelled";
    const run = this.active.get(id);
    if (run) {
      run.abort(new RunStopped(code, message));
      return true;
    }
    return this.endQueued(id, new RunStopped(code, `${message} before it started`));
  }

  /** Another replica asked for a run to stop: done if it runs here. */
  stopIfHere(id: string): void {
    this.active.get(id)?.abort(new RunStopped("cancelled", "The run was cancelled"));
  }

  /** A run that ran here ended: its end goes to RunEnds (answered first on this server's own store), then what waits starts. */
  private async finish(record: RunRecord, ended: RunResult, cleanup: () => Promise<void>): Promise<void> {
    const id = record.id;
    const run = this.active.get(id);
    run?.clearTimers();
    this.deadlines.clear(id);
    const free = () => {
      this.active.delete(id);
      if (run?.lock) this.locks.delete(run.lock);
    };
    // A run whose start never reached the store: its request was refused (503), so it has no end, line or count.
    if (run && !(await run.gate.stored)) {
      free();
      this.deps.events.forget(id);
      await this.ends.track(cleanup());
      return this.afterEnd();
    }
    const result = withThread(ended, record, run?.budget ?? null, this.deps.logger);
    const status = statusOfResult(result);
    const outcome = outcomeOf(result);
    this.avgRunMs = this.avgRunMs * 0.8 + result.durationMs * 0.2;
    await this.ends.end({ id, result, status, outcome, cleanup, free, hurried: !this.queueSeenEmpty });
    this.deps.onRecorded?.(id);
    this.deps.observer?.runFinished(result, status, true, record.owner);
    logRunEnd(this.deps.logger, record, result, status);
    this.afterEnd();
  }

  /** A run's end is over: start what waits, and say when nothing is left. */
  private afterEnd(): void {
    this.pump();
    if (this.active.size === 0 && this.ends.pending === 0) this.idle.wake();
  }

  /** Resolves once every end answered so far is written (or kept for a retry): what a client reads after an answer includes it. */
  endsWritten(): Promise<void> {
    return this.ends.endsWritten();
  }

  /** No more starts; queued runs stay queued (the next server process starts them). Their synchronous deadlines go. */
  drain(): string[] {
    this.draining = true;
    return this.deadlines.dropQueued((id) => this.active.has(id));
  }

  abortAll(reason: RunStopped): void {
    for (const run of this.active.values()) run.abort(reason);
  }

  /** The runs in flight here (their leases are renewed). */
  activeRunIds(): string[] {
    return [...this.active.keys()];
  }

  /** Resolves true once no run is in flight here and every end is written, or false after `timeoutMs`. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    return this.idle.wait(this.active.size === 0 && this.ends.pending === 0, timeoutMs);
  }
}

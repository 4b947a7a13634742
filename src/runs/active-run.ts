// A run in flight in this process: its abort switch, its branch lock and the timers that may pull it.
import { RunStopped } from "./abort.ts";
import { exceededMessage, type Budget } from "./budget.ts";
import type { RunRecord } from "./model.ts";
import type { RunSpec, StartGate } from "./pipeline.ts";
import { executionTimeout, idleTimeout } from "./timeouts.ts";

/** The start of a run the service writes while the run gets going (see RunService.submit). */
export class PendingStart implements StartGate {
  readonly stored: Promise<boolean>;
  /** Resolves when the run has reached its agent (or a slow step, or its end). */
  readonly reachedAt: Promise<void>;
  private store!: (ok: boolean) => void;
  private reach!: () => void;

  constructor() {
    this.stored = new Promise((resolve) => (this.store = resolve));
    this.reachedAt = new Promise((resolve) => (this.reach = resolve));
  }

  reached(): void {
    this.reach();
  }

  settle(ok: boolean): void {
    this.store(ok);
  }
}

export class ActiveRun {
  readonly controller = new AbortController();
  /** The store failed while it ran: nothing more of it is written, it only ends. */
  storeFailed = false;
  /** Its caps and its thread's, checked after each step (null until it starts, or when it never did). */
  budget: Budget | null = null;
  private wallTimer?: ReturnType<typeof setTimeout>;
  private idleTimer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly record: RunRecord,
    readonly spec: RunSpec,
    readonly lock: string | null,
    readonly startedAt: number,
    /** 0: no idle timeout. */
    private readonly idleMs: number,
    /** Its start: stored already (claimed from the queue), or written once it reaches its agent. */
    readonly gate: StartGate,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(reason: RunStopped): void {
    this.controller.abort(reason);
  }

  /** MAX_EXECUTION_TIME from the start (runs without a synchronous deadline from submission). */
  armWall(limitMs: number): void {
    this.wallTimer = setTimeout(() => this.abort(executionTimeout(limitMs)), limitMs);
  }

  /** Any sign of life from the agent restarts the idle clock. */
  touch(): void {
    if (this.idleMs <= 0) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.abort(idleTimeout(this.idleMs)), this.idleMs);
  }

  /** A step ended: a cap it crossed stops the run like a timeout (its whole process tree; partial work kept). */
  stepEnded(step: { total: Parameters<Budget["step"]>[0]; steps: number; reason: string | null }): void {
    const exceeded = this.budget?.step(step.total, step.steps, step.reason);
    if (exceeded && !this.signal.aborted) this.abort(new RunStopped("budget_exceeded", exceededMessage(exceeded, step.steps)));
  }

  clearTimers(): void {
    clearTimeout(this.wallTimer);
    clearTimeout(this.idleTimer);
  }
}

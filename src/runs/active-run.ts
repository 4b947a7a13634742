// A run in flight in this process: its abort switch, its branch lock and the timers that may pull it.
import type { RunStopped } from "./abort.ts";
import type { RunRecord } from "./model.ts";
import type { RunSpec } from "./pipeline.ts";
import { executionTimeout, idleTimeout } from "./timeouts.ts";

export class ActiveRun {
  readonly controller = new AbortController();
  /** The store failed while it ran: nothing more of it is written, it only ends. */
  storeFailed = false;
  private wallTimer?: ReturnType<typeof setTimeout>;
  private idleTimer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly record: RunRecord,
    readonly spec: RunSpec,
    readonly lock: string | null,
    readonly startedAt: number,
    /** 0: no idle timeout. */
    private readonly idleMs: number,
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

  clearTimers(): void {
    clearTimeout(this.wallTimer);
    clearTimeout(this.idleTimer);
  }
}

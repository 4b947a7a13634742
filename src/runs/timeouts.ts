// The clocks that end a run: MAX_EXECUTION_TIME (from submission for the synchronous door) and IDLE_TIMEOUT.
import { formatDuration } from "../lib/duration.ts";
import { RunStopped } from "./abort.ts";

export function executionTimeout(limitMs: number): RunStopped {
  return new RunStopped("timeout", `Execution timeout: the run exceeded MAX_EXECUTION_TIME (${formatDuration(limitMs)})`);
}

export function queueTimeout(limitMs: number, waitedMs: number): RunStopped {
  return new RunStopped(
    "timeout",
    `Execution timeout: the run waited ${formatDuration(waitedMs)} in the queue and MAX_EXECUTION_TIME (${formatDuration(limitMs)}) passed before it could start`,
  );
}

export function idleTimeout(limitMs: number): RunStopped {
  return new RunStopped("idle_timeout", `Idle timeout: no activity from the agent for IDLE_TIMEOUT (${formatDuration(limitMs)})`);
}

/**
 * Deadlines of synchronous runs, armed at submission: a client waiting on POST /run is owed an answer
 * within MAX_EXECUTION_TIME however long the run queued. Only this process's waiters have one.
 */
export class SyncDeadlines {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly limitMs: number) {}

  has(id: string): boolean {
    return this.timers.has(id);
  }

  arm(id: string, submittedAt: number, expire: (id: string, stop: RunStopped, started: boolean) => void, isRunning: (id: string) => boolean): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(id);
        const running = isRunning(id);
        expire(id, running ? executionTimeout(this.limitMs) : queueTimeout(this.limitMs, Date.now() - submittedAt), running);
      },
      Math.max(0, submittedAt + this.limitMs - Date.now()),
    );
    this.timers.set(id, timer);
  }

  clear(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  /** Drops the deadlines of runs not running here (they stay queued past shutdown); returns their ids. */
  dropQueued(isRunning: (id: string) => boolean): string[] {
    const waiting = [...this.timers.keys()].filter((id) => !isRunning(id));
    for (const id of waiting) this.clear(id);
    return waiting;
  }
}

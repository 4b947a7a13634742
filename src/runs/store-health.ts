// Whether the run store can be written: a fault marks it unwritable, a periodic probe finds it back (and writes what waited).
import type { Logger } from "../lib/logger.ts";
import type { RunStore } from "./store.ts";

/** How often an unwritable store is tried again. */
const PROBE_MS = 2000;
/** Finishes kept for a retry while the store is unwritable; past this, the oldest are left to recovery. */
const MAX_PENDING = 1000;

export class StoreHealth {
  private reason: string | null = null;
  private readonly pending: ((drop: boolean) => Promise<void>)[] = [];
  private checking = false;
  /**
   * Writes that wait for the store besides runs' ends (the event buffer): run after the probe, before the
   * ends. `drop`: the second check in a row where the probe works but they do not — give them up.
   */
  flush: (drop: boolean) => Promise<void> = async () => {};
  /** Checks in a row where the probe worked and the held events (or the oldest waiting end) could not be written. */
  private flushStrikes = 0;
  private endStrikes = 0;
  /** Whether that buffer holds anything: then only the probe's flush may call the store healthy again. */
  backlogged: () => boolean = () => false;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Called once the store works again (the scheduler starts what waited in the queue). */
  onRecovered: () => void = () => {};

  constructor(
    private readonly store: RunStore,
    private readonly logger: Logger,
  ) {}

  /** null while the store is writable; else why not. */
  get problem(): string | null {
    return this.reason;
  }

  /** A store call failed; `retry` (optional) is a write to make once it works again (a run's end). */
  fault(err: unknown, retry?: (drop: boolean) => Promise<void>): void {
    const reason = err instanceof Error ? err.message : String(err);
    if (this.reason === null) this.logger.error("the run store cannot be written: new runs are refused until it can", { error: reason });
    this.reason = reason;
    if (retry) {
      this.pending.push(retry);
      if (this.pending.length > MAX_PENDING) this.pending.shift();
    }
    this.timer ??= setInterval(() => void this.check(), PROBE_MS);
    this.timer.unref();
  }

  /** A write succeeded: nothing to wait for (but what is pending is flushed by the probe). */
  ok(): void {
    if (this.reason !== null && this.pending.length === 0 && !this.backlogged()) this.recovered();
  }

  /** Tries the store; on success writes what waited, oldest first, and stops probing. One check at a time. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.store.probe();
      try {
        await this.flush(this.flushStrikes > 0);
        this.flushStrikes = 0;
      } catch (err) {
        this.flushStrikes++;
        throw err;
      }
      while (this.pending.length > 0) {
        try {
          await (this.pending[0] as (drop: boolean) => Promise<void>)(this.endStrikes > 0);
          this.endStrikes = 0;
        } catch (err) {
          this.endStrikes++;
          throw err;
        }
        this.pending.shift();
      }
    } catch (err) {
      this.reason = err instanceof Error ? err.message : String(err);
      return;
    } finally {
      this.checking = false;
    }
    this.recovered();
  }

  private recovered(): void {
    const was = this.reason;
    this.reason = null;
    clearInterval(this.timer);
    this.timer = undefined;
    if (was !== null) {
      this.logger.warn("the run store can be written again", { was });
      this.onRecovered();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

// How many runs wait, for /health and /metrics, which ask often: a count is reused until the queue changes here or a second passes.
import type { RunStore } from "./store.ts";

/** How long a count may miss what another process did to the queue (Postgres, many replicas). */
const TTL_MS = 1000;

export class QueueCount {
  private cached: { n: number; at: number; changes: number } | null = null;
  private counting: Promise<number> | null = null;

  constructor(
    private readonly store: RunStore,
    /** Bumped by the scheduler and the service on every change they make to the queue. */
    private readonly changes: () => number,
  ) {}

  /** The last count (possibly a second old, 0 before the first); a stale one is refreshed in the background. */
  get recent(): number {
    if (!this.valid()) void this.now();
    return this.cached?.n ?? 0;
  }

  /** The count when the last one is still valid, without waiting; null when it must be read. */
  fresh(): number | null {
    return this.valid() ? (this.cached as { n: number }).n : null;
  }

  /** The count, reused while valid; the last known one (or 0) when the store cannot be read. */
  now(): Promise<number> {
    const c = this.cached;
    if (c && this.valid()) return Promise.resolve(c.n);
    const changes = this.changes();
    this.counting ??= this.store
      .queuedCount()
      .then((n) => {
        this.cached = { n, at: Date.now(), changes };
        return n;
      })
      .catch(() => this.cached?.n ?? 0)
      .finally(() => (this.counting = null));
    return this.counting;
  }

  private valid(): boolean {
    const c = this.cached;
    return c !== null && c.changes === this.changes() && Date.now() - c.at < TTL_MS;
  }
}

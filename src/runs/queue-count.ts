// How many runs wait, for /health and /metrics, which ask often: a count is reused until the queue changes here or a second passes.
import type { RunStore } from "./store.ts";

/** How long a count may miss what another process did to the queue (Postgres, many replicas). */
const TTL_MS = 1000;

export class QueueCount {
  private cached: { n: number; at: number; changes: number } | null = null;

  constructor(
    private readonly store: RunStore,
    /** Bumped by the scheduler and the service on every change they make to the queue. */
    private readonly changes: () => number,
  ) {}

  /** Possibly a second old; 0 when the store cannot be read. */
  get recent(): number {
    const now = Date.now();
    const c = this.cached;
    if (c && c.changes === this.changes() && now - c.at < TTL_MS) return c.n;
    const n = this.fresh();
    this.cached = { n, at: now, changes: this.changes() };
    return n;
  }

  /** Counted now, for admission (MAX_QUEUED_RUNS); 0 when the store cannot be read. */
  fresh(): number {
    try {
      return this.store.queuedCount();
    } catch {
      return 0;
    }
  }
}

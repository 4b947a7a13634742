// Claims queued runs; after a failed claim the queue waits for the store, and a run whose start fails twice in a row ends, so one bad row never blocks the queue.
import type { Logger } from "../lib/logger.ts";
import { RunStopped } from "./abort.ts";
import type { EventLog } from "./event-log.ts";
import type { RunEvent } from "./model.ts";
import type { StoreHealth } from "./store-health.ts";
import type { Claimed, RunStore } from "./store.ts";

export interface ClaimGuardDeps {
  store: RunStore;
  health: StoreHealth;
  logger: Logger;
  events: EventLog;
  /** REPLICA_ID: written on the runs this process claims. */
  replica: string;
  /** LEASE_TIMEOUT: how long a claimed run's lease lasts without renewal (shared stores). */
  leaseMs: number;
  /** Ends a queued run (it never starts). */
  endQueued(id: string, stop: RunStopped): Promise<boolean>;
}

export class ClaimGuard {
  /** A claim failed: nothing starts until the store health probe says it works again (no cascade of failures). */
  private blocked = false;
  /** The run whose start failed last: if it fails again, it ends. */
  private suspect: string | null = null;

  constructor(private readonly deps: ClaimGuardDeps) {}

  get isBlocked(): boolean {
    return this.blocked;
  }

  /** The store works again (its health probe says so). */
  unblock(): void {
    this.blocked = false;
  }

  /**
   * Claims the oldest queued run whose branch is not `busy`, marked running (its first event) in the same
   * commit; null when there is none — or when the claim failed, which blocks the queue (see failed).
   */
  async next(busy: (lock: string) => boolean): Promise<{ claimed: Claimed; started: readonly RunEvent[] } | null> {
    let tried: string | null = null;
    let started: readonly RunEvent[] = [];
    const startEvents = (id: string, lastSeq: number) => {
      tried = id;
      return (started = this.deps.events.maker([{ type: "status", status: "running" }])(id, lastSeq));
    };
    const now = Date.now();
    let claimed: Claimed | null;
    try {
      claimed = await this.deps.store.claim(this.deps.replica, now, now + this.deps.leaseMs, busy, startEvents);
    } catch (err) {
      // Rolled back: the number the event took is free again.
      if (tried) this.deps.events.rewind(tried);
      await this.failed(err, tried);
      return null;
    }
    if (!claimed) return null;
    // Whatever failed before, this run's start worked.
    if (claimed.record.id === this.suspect) this.suspect = null;
    return { claimed, started };
  }

  /**
   * Starting a run failed in the store: the queue waits for the store's health probe. A run whose start
   * fails twice in a row (the store working in between) ends as internal — but a lost connection (a
   * Postgres restart) never costs a queued run.
   */
  private async failed(err: unknown, tried: string | null): Promise<void> {
    this.blocked = true;
    this.deps.health.fault(err);
    let id = tried;
    try {
      id ??= await this.deps.store.nextQueued();
    } catch {
      // Not even readable: the queue waits as it is.
    }
    if (!id || id !== this.suspect) {
      this.suspect = id;
      this.deps.logger.error("could not start a queued run: retrying once the store works", { run_id: id, error: err });
      return;
    }
    this.suspect = null;
    this.deps.logger.error("could not start a queued run, twice: it ends", { run_id: id, error: err });
    await this.deps.endQueued(id, new RunStopped("internal", `The run store failed while starting the run: ${err instanceof Error ? err.message : String(err)}`));
  }
}

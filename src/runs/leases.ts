// Many replicas on one store: this one renews its runs' leases, ends the runs of replicas that died, and hears the others.
import type { Logger } from "../lib/logger.ts";
import type { EventLog } from "./event-log.ts";
import { interruption, LEASE_REASON } from "./recovery.ts";
import type { Scheduler } from "./scheduler.ts";
import type { StoreHealth } from "./store-health.ts";
import type { RunStore } from "./store.ts";

export interface LeaseDeps {
  store: RunStore;
  events: EventLog;
  scheduler: Scheduler;
  health: StoreHealth;
  logger: Logger;
  replica: string;
  leaseMs: number;
}

/**
 * Every third of LEASE_TIMEOUT: renew this replica's leases (and stop the runs someone asked to cancel),
 * interrupt runs whose lease ran out, and try to claim — in case an announcement was lost.
 */
export class Leases {
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopWatching: () => void = () => {};
  private ticking = false;

  constructor(private readonly deps: LeaseDeps) {}

  start(): void {
    const { store, events, scheduler } = this.deps;
    this.stopWatching = store.watch({
      events: (runId, seq) => void events.remote(runId, seq).catch((err: unknown) => this.deps.logger.warn("could not read announced events", { run_id: runId, error: err })),
      queue: () => scheduler.pump(),
      cancel: (runId) => scheduler.stopIfHere(runId),
      reconnected: () => {
        this.deps.logger.warn("the store's announcements were interrupted: reading what was missed");
        void events.catchUp();
        scheduler.pump();
      },
    });
    this.timer = setInterval(() => void this.tick(), Math.max(1000, Math.floor(this.deps.leaseMs / 3)));
    this.timer.unref();
  }

  /** One round; never throws (a store fault is the health probe's to report). */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    const { store, scheduler, replica, leaseMs } = this.deps;
    try {
      const ids = scheduler.activeRunIds();
      if (ids.length > 0) for (const id of await store.renewLeases(replica, ids, Date.now() + leaseMs)) scheduler.stopIfHere(id);
      const { f, outcome, closing } = interruption(this.deps.events, LEASE_REASON);
      const expired = await store.expireLeases({ ...f, at: Date.now() }, outcome, closing);
      for (const id of expired) {
        // Ours too if this replica lost the store for longer than the lease: the run goes on, its number stays.
        if (!scheduler.isActive(id)) this.deps.events.forget(id);
        void this.deps.events.remote(id, Number.MAX_SAFE_INTEGER).catch(() => undefined);
      }
      if (expired.length > 0) this.deps.logger.warn("runs interrupted: their replica stopped renewing its lease", { runs: expired, lease_timeout_ms: leaseMs });
      scheduler.pump();
    } catch (err) {
      this.deps.health.fault(err);
    } finally {
      this.ticking = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.stopWatching();
  }
}

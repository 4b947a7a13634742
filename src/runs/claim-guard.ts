// After a failed claim the queue waits for the store; a run whose start fails twice in a row ends, so one bad row never blocks the queue.
import type { Logger } from "../lib/logger.ts";
import { RunStopped } from "./abort.ts";
import type { StoreHealth } from "./store-health.ts";
import type { RunStore } from "./store.ts";

export interface ClaimGuardDeps {
  store: RunStore;
  health: StoreHealth;
  logger: Logger;
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

  /** A run was claimed: whatever failed before, its start worked. */
  claimed(id: string): void {
    if (id === this.suspect) this.suspect = null;
  }

  /**
   * Starting a run failed in the store: the queue waits for the store's health probe. A run whose start
   * fails twice in a row (the store working in between) ends as internal — but a lost connection (a
   * Postgres restart) never costs a queued run.
   */
  async failed(err: unknown, tried: string | null): Promise<void> {
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

// Writes the ends of runs that ran here: on the server's own store after the answer, on a shared store before it.
import { Deferral } from "../lib/deferral.ts";
import type { Logger } from "../lib/logger.ts";
import type { EventLog } from "./event-log.ts";
import type { RunOutcome, RunStatus } from "./model.ts";
import { keptDiff } from "./outcome.ts";
import { recordEnd, UnrecordedEnds } from "./record-end.ts";
import type { RunResult } from "./result.ts";
import { keepContinuation } from "./run-start.ts";
import type { StoreHealth } from "./store-health.ts";
import type { RunStore } from "./store.ts";

/**
 * How long a run's end waits after its answer (on this server's own store): a sequential client's next request
 * is served first, and the end is written while that run's agent works. What follows the end — the workspace
 * moved aside, a spare made (~1 ms of thread-pool round trips) — must be over before a client that alternates
 * with other work comes back: at 2 ms it was still going 2.7 ms after the answer (bench 1: 1.15–1.22× at 2 ms,
 * 1.09–1.10× at 1 ms; one client back to back: 3.65–3.69 ms at 2 ms, 3.44–3.46 at 1 ms, 3.57–3.60 on the next
 * turn). Anything that reads runs hurries it (endsWritten); with runs queued it does not wait (they start after it).
 */
export const END_DELAY_MS = 1;

export interface RunEndsDeps {
  store: RunStore;
  events: EventLog;
  health: StoreHealth;
  logger: Logger;
  /** KEEP_SESSIONS: store each run's session for its follow-ups. */
  keepSessions: boolean;
  /** A run ended (here): its outcome, for whoever waits in this process. */
  onFinished(id: string, outcome: RunOutcome): void;
}

/** One run's end, as the scheduler hands it over once the run is done. */
export interface EndOf {
  id: string;
  result: RunResult;
  status: RunStatus;
  outcome: RunOutcome;
  /** What the run leaves behind (its workspace): removed after the end is written. */
  cleanup: () => Promise<void>;
  /** Frees the run's slot and branch. */
  free: () => void;
  /** Runs are queued (or may be): the end is written on the loop's next turn, not END_DELAY_MS later. */
  hurried: boolean;
}

export class RunEnds {
  /** Ends answered and not written yet. */
  private readonly ending = new Set<Promise<void>>();
  /** What those ends wait for before they are written. */
  private readonly later: Deferral;
  /** Ends that could not be written yet: their outcome, for whoever asks before the store takes them. */
  readonly unrecorded = new UnrecordedEnds();

  constructor(
    private readonly deps: RunEndsDeps,
    delayMs = END_DELAY_MS,
  ) {
    this.later = new Deferral(delayMs);
  }

  /** Ends still being written (or waiting to be). */
  get pending(): number {
    return this.ending.size;
  }

  /** A run was queued: the ends that free its slot or its branch are written without waiting. */
  hurry(): void {
    this.later.hurry();
  }

  /**
   * Frees the run, answers its waiters and writes its end; resolves once the end is written and the run's
   * leftovers removed. On a store other replicas read, the end is written (and the workspace removed) before
   * the run is freed or answered: another replica may read it at once, and nothing here waits for it. On the
   * server's own store the answer comes first, and the write follows END_DELAY_MS later — after the answer is
   * on the wire either way (Bun writes it before the next turn's immediates, measured) — while every client
   * read waits for that write (endsWritten), and a retry, a late waiter or a cancel finds the outcome in
   * `unrecorded` meanwhile.
   */
  end(e: EndOf): Promise<void> {
    return this.deps.store.shared ? this.endShared(e) : this.track(this.endHere(e));
  }

  /** Counts `left` in endsWritten until it is over. */
  track(left: Promise<void>): Promise<void> {
    this.ending.add(left);
    return left.finally(() => this.ending.delete(left));
  }

  private async endShared(e: EndOf): Promise<void> {
    await e.cleanup();
    await this.write(e);
    e.free();
    this.deps.onFinished(e.id, e.outcome);
  }

  /** Answers now (synchronously, so nobody reads between the answer and `ending` counting the write), writes later. */
  private endHere(e: EndOf): Promise<void> {
    this.unrecorded.add(e.id, e.outcome);
    e.free();
    this.deps.onFinished(e.id, e.outcome);
    return this.later
      .wait(e.hurried)
      .then(() => this.write(e))
      .then(e.cleanup);
  }

  private async write(e: EndOf): Promise<void> {
    try {
      if (this.deps.keepSessions) await keepContinuation(this.deps.store, this.deps.logger, e.result);
      await recordEnd(this.deps, this.unrecorded, e.id, e.status, e.outcome, keptDiff(e.result));
    } catch (err) {
      // Only a bug gets here (recordEnd keeps what the store refused for a retry): the run still ends.
      this.deps.logger.error("could not record a run's end", { run_id: e.id, error: err });
    }
  }

  /** Resolves once every end answered so far is written (or kept for a retry): what a client reads after an answer includes it. */
  endsWritten(): Promise<void> {
    if (this.ending.size === 0) return Promise.resolve();
    this.later.hurry();
    return Promise.all(this.ending).then(() => undefined);
  }
}

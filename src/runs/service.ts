// The one way to start, wait for, read, follow and cancel runs — what every door (POST /run, /runs, a stream) calls.
import { AppError } from "../errors.ts";
import { can, canCancel, canRead, forbidden, listOwner, type Caller } from "../auth/caller.ts";
import { formatDuration } from "../lib/duration.ts";
import { RunStopped } from "./abort.ts";
import type { RunInput } from "./admission.ts";
import type { EventListener, Subscription } from "./event-log.ts";
import { followUpOf, type FollowUp } from "./follow-up.ts";
import { FINAL_STATUSES, type RunOutcome, type RunRecord } from "./model.ts";
import { diffAvailable, outcomeOf, unstartedResult } from "./outcome.ts";
import { QueueCount } from "./queue-count.ts";
import type { ListQuery, RunDiff, RunStore } from "./store.ts";
import type { ForgeSite } from "../git/forge/types.ts";
import { submitRun, unavailable, type SubmitDeps, type SubmitOptions } from "./submit.ts";

export type { RunInput, SubmitOptions };

export interface RunServiceDeps extends SubmitDeps {
  /** KEEP_SESSIONS: false, and no run can be continued. */
  keepSessions: boolean;
}

export class RunService {
  /** Who waits for which run here (a synchronous client, a cancel), for drain to answer while the run stays queued. */
  private readonly waiters = new Map<string, Set<(o: RunOutcome) => void>>();

  private readonly count: QueueCount;

  constructor(private readonly deps: RunServiceDeps) {
    this.count = new QueueCount(deps.store, () => deps.scheduler.queueChanges);
  }

  get inFlight(): number {
    return this.deps.scheduler.inFlight;
  }

  get queued(): number {
    return this.count.recent;
  }

  /** Which forges serve which repositories (FORGES). */
  get forges(): readonly ForgeSite[] {
    return this.deps.forges;
  }

  get isDraining(): boolean {
    return this.deps.scheduler.isDraining;
  }

  /** Null while the store can be written; otherwise why not. */
  get storeProblem(): string | null {
    return this.deps.health.problem;
  }

  /** Queues a run (or finds the earlier one with the same Idempotency-Key); it starts when a slot is free. */
  submit(input: RunInput, opts: SubmitOptions): Promise<{ id: string; replayed: boolean }> {
    return submitRun(this.deps, input, opts, (i, parentId, caller) => this.followUp(i, parentId, caller));
  }

  /** The run a follow-up continues, checked (404, 409 while it runs, 410 without a session). */
  private async followUp(input: RunInput, parentId: string, caller: Caller): Promise<FollowUp> {
    if (!this.deps.keepSessions) throw new AppError("session_gone", "This server keeps no session history (KEEP_SESSIONS=false): runs cannot be continued");
    // A run the caller may not read is one that does not exist (404): its existence is not disclosed.
    const parent = await this.visible(caller, parentId);
    const kept = parent?.outcome?.session_id ? await this.read((s) => s.hasContinuation(parentId)) : false;
    return followUpOf(input, parent, parentId, kept, this.deps.allowedRepos);
  }

  /** Resolves with the run's outcome once it has ended (wherever it runs); at drain, a queued run's client is told so. */
  wait(id: string): Promise<RunOutcome> {
    return new Promise((resolve) => {
      // Answered and its end not written yet (or not writable): its outcome is here, at once (its slot is free already).
      const unrecorded = this.deps.scheduler.unrecorded.get(id);
      if (unrecorded) return resolve(unrecorded);
      // Running here: the scheduler hands its outcome to finished() — nothing to read from the store.
      if (this.deps.scheduler.isActive(id)) return this.addWaiter(id, resolve);
      let done = false;
      const finish = (outcome: RunOutcome) => {
        if (done) return;
        done = true;
        stop();
        this.waiters.get(id)?.delete(finish);
        resolve(outcome);
      };
      // Listening first, then reading: an end in between is seen either way — from the store if it is over,
      // from its result event if it ends elsewhere (another replica: announced), or through finished().
      const stop = this.deps.events.listen(id, (e) => void (e.type === "result" && finish(e.answer)));
      this.addWaiter(id, finish);
      this.deps.store.get(id).then(
        (record) => record?.outcome && finish(record.outcome),
        (err: unknown) => this.deps.logger.error("could not read a run while waiting for it", { run_id: id, error: err }),
      );
    });
  }

  private addWaiter(id: string, wake: (o: RunOutcome) => void): void {
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(wake);
  }

  /**
   * Stops a run — here, or on the replica that runs it — and resolves once it has ended there (its
   * processes gone). Null: no such run; `alreadyFinished`: nothing to do.
   */
  async cancel(id: string, code: "cancelled" | "client_closed" = "cancelled"): Promise<{ record: RunRecord; alreadyFinished: boolean } | null> {
    const before = await this.get(id);
    if (!before) return null;
    if (FINAL_STATUSES.includes(before.status)) return { record: before, alreadyFinished: true };
    const ended = this.wait(id);
    if (!(await this.deps.scheduler.cancel(id, code)) && this.deps.store.shared) {
      try {
        await this.deps.store.requestCancel(id);
      } catch (err) {
        throw unavailable(err);
      }
    }
    const outcome = await ended;
    return { record: (await this.get(id)) ?? { ...before, outcome }, alreadyFinished: false };
  }

  /** Called by the scheduler for every run that ends here. */
  finished(id: string, outcome: RunOutcome): void {
    for (const wake of [...(this.waiters.get(id) ?? [])]) wake(outcome);
    this.waiters.delete(id);
  }

  /** Resolves once the end of every run answered so far is written (see Scheduler.finish): what a client reads next includes them. */
  endsWritten(): Promise<void> {
    return this.deps.scheduler.endsWritten();
  }

  /** A read for a client: a store fault is a 503 for it. It sees every run answered before it. */
  private async read<T>(fn: (store: RunStore) => Promise<T>): Promise<T> {
    await this.endsWritten();
    try {
      return await fn(this.deps.store);
    } catch (err) {
      throw unavailable(err);
    }
  }

  get = (id: string): Promise<RunRecord | null> => this.read((s) => s.get(id));
  /** A conversation's runs, oldest first. */
  thread = (threadId: string, limit: number, after?: { createdAt: number; id: string }) => this.read((s) => s.thread(threadId, limit, after));
  /** The runs that continue run `id`. */
  children = (id: string) => this.read((s) => s.children(id));
  /** Whether diff() has something for this run (a run stored before diffs were kept has none). */
  hasDiff = (r: RunRecord) => this.read((s) => diffAvailable(s, r));
  /** The change a finished repository run made, as a diff: its patch (push: false) or the diff kept at its end; null: none. */
  diff = async (id: string): Promise<RunDiff | null> => {
    const record = await this.get(id);
    const o = record?.outcome;
    if (!o?.changed) return null;
    if (o.patch !== undefined) return { text: o.patch, truncated: o.patch_truncated === true };
    return this.read((s) => s.diff(id));
  };
  list = (q: ListQuery) => this.read((s) => s.list(q));

  /** The run if `caller` may read it; null when it does not exist or is not theirs to see (the same 404). */
  async visible(caller: Caller, id: string): Promise<RunRecord | null> {
    const record = await this.get(id);
    return record && canRead(caller, record.owner) ? record : null;
  }

  /** The runs `caller` may read, filtered in the store's query so that pages stay whole. */
  listFor(caller: Caller, q: Omit<ListQuery, "owner">): Promise<RunRecord[]> {
    return this.list({ ...q, owner: listOwner(caller) });
  }

  /** A conversation's runs, oldest first, if `caller` may read them (one thread has one owner): else none, as for no such thread. */
  threadFor(caller: Caller, threadId: string, limit: number, after?: { createdAt: number; id: string }): Promise<RunRecord[]> {
    const owner = listOwner(caller);
    return this.read((s) => s.thread(threadId, limit, after, owner));
  }

  /** cancel() for a client: 404 (null) for a run it may not read, 403 for one it may read but not cancel. */
  async cancelFor(caller: Caller, id: string): Promise<{ record: RunRecord; alreadyFinished: boolean } | null> {
    const record = await this.visible(caller, id);
    if (!record) return null;
    if (!canCancel(caller, record.owner)) throw forbidden(caller, can(caller, "runs:cancel") ? "runs:cancel-all" : "runs:cancel");
    return this.cancel(id);
  }
  /** The run's webhook deliveries and their attempts. */
  deliveries = (id: string) => this.read((s) => s.deliveries(id));

  async queuePosition(id: string): Promise<number | null> {
    try {
      return await this.deps.store.queuePosition(id);
    } catch {
      return null;
    }
  }

  /** How many runs wait (over all replicas on a shared store), for /health and /metrics: at most a second old. */
  queuedNow(): Promise<number> {
    return this.count.now();
  }

  /** The waiting count when it needs no store read (see QueueCount.fresh). */
  queuedIfFresh(): number | null {
    return this.count.fresh();
  }

  /** Stored events after `afterSeq` and the ones to come; null when there is no such run. */
  async subscribe(id: string, afterSeq: number, listener: EventListener): Promise<(Subscription & { finished: boolean }) | null> {
    const record = await this.get(id);
    if (!record) return null;
    try {
      const sub = await this.deps.events.subscribe(id, afterSeq, listener);
      return { ...sub, finished: FINAL_STATUSES.includes(record.status) && !this.deps.scheduler.isActive(id) };
    } catch (err) {
      throw unavailable(err);
    }
  }

  /**
   * No new runs; queued runs stay in the queue for the next server process, and a synchronous client
   * waiting for one is answered 503 shutting_down now (retrying with its Idempotency-Key finds it again).
   */
  async beginDrain(): Promise<void> {
    for (const id of this.deps.scheduler.drain()) {
      let record: RunRecord | null = null;
      try {
        record = await this.deps.store.get(id);
      } catch {
        // Unreadable store: the client is told all the same, without the wait.
      }
      const result = unstartedResult(
        { runId: id, requestId: record?.requestId ?? "", model: record?.model ?? this.deps.defaultModel, durationMs: 0, queueMs: record ? Date.now() - record.createdAt : 0 },
        "shutting_down",
        `The server is shutting down; the run stays queued (it waited ${formatDuration(record ? Date.now() - record.createdAt : 0)}) and starts ${this.deps.store.shared ? "on another replica" : "when the server is back"} — retry with the same Idempotency-Key to get its answer`,
      );
      this.finished(id, outcomeOf(result));
    }
  }

  abortAll(reason: RunStopped): void {
    this.deps.scheduler.abortAll(reason);
  }

  waitIdle(timeoutMs: number): Promise<boolean> {
    return this.deps.scheduler.waitIdle(timeoutMs);
  }

  activeRunIds(): string[] {
    return this.deps.scheduler.activeRunIds();
  }
}

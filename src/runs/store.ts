// What the run core needs from storage, in domain types: SQLite for one machine, Postgres for many replicas (src/store/).
import type { ErrorCode } from "../errors.ts";
import type { Delivery, DeliveryAttempt, DeliveryState } from "../webhooks/model.ts";
import type { QueuedRequest, RunEvent, RunOutcome, RunRecord, RunStatus } from "./model.ts";

/** Any failure of the store (disk full, I/O error, a lost connection): it ends a run, never the server. */
export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    readonly operation: string,
    cause: unknown,
  ) {
    super(`the run store failed to ${operation}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export interface Claimed {
  record: RunRecord;
  request: QueuedRequest;
  lock: string | null;
}

export interface Finish {
  status: RunStatus;
  code: ErrorCode | null;
  error: string | null;
  at: number;
  outcome: RunOutcome;
  /** What a repository run delivered, as a diff (kept for the dashboard; push: false runs have it in outcome.patch). */
  diff?: RunDiff | null;
}

export interface RunDiff {
  text: string;
  /** Cut at MAX_OUTPUT_SIZE. */
  truncated: boolean;
}

export interface ListQuery {
  statuses?: readonly RunStatus[];
  limit: number;
  /** Only this key's runs (undefined: everyone's). */
  owner?: string;
  /** Only runs strictly older than this (createdAt, id) position: keyset pagination, newest first. */
  before?: { createdAt: number; id: string };
}

/** Numbers a run's next events from the highest number the store holds for it (read in the same transaction). */
export type EventMaker = (runId: string, lastSeq: number) => readonly RunEvent[];

export type Enqueued =
  | { queued: true }
  /** MAX_QUEUED_RUNS runs wait already (counted in the same commit, so the limit holds across replicas). */
  | { queued: false; reason: "full"; waiting: number }
  /** A run with this Idempotency-Key exists (stored by this or another replica): nothing was written. */
  | { queued: false; reason: "duplicate"; earlier: RunRecord };

/** What other server processes on a shared store announce; a local store never calls these. */
export interface StoreWatch {
  /** Events up to `seq` of run `runId` are stored (by another replica). */
  events(runId: string, seq: number): void;
  /** The queue changed elsewhere (a run queued, a branch lock freed): a replica with a free slot tries to claim. */
  queue(): void;
  /** Someone asked for run `runId` to stop (it may run here). */
  cancel(runId: string): void;
  /** The announcements' connection was lost and is back: what was announced meanwhile is lost, read the store. */
  reconnected(): void;
}

export interface RunStore {
  /** Where it lives, for the start-up log and /health (a file, or a database URL without its password). */
  readonly location: string;
  /** "sqlite" or "postgres", for /health and the log. */
  readonly kind: "sqlite" | "postgres";
  /** Other server processes share it: runs start only through the queue, and changes are announced (watch). */
  readonly shared: boolean;
  /** A new run, queued, with what it needs to start and its first events — in one commit; unless the queue is full or the key taken. */
  enqueue(record: RunRecord, request: QueuedRequest, lock: string | null, events: readonly RunEvent[], maxQueued: number): Promise<Enqueued>;
  /** A new run that starts at once (a free slot, nothing ahead of it; never on a shared store): stored as running, its request never written. */
  insertRunning(record: RunRecord, events: readonly RunEvent[]): Promise<void>;
  /**
   * The oldest queued run whose lock is free — `busy` says which locks this process holds; a shared store
   * also checks the runs every other replica holds — now running on `replica` with a lease until
   * `leaseUntil`; its stored request is deleted as it is handed over, and the events `startEvents` makes
   * for it are written in the same commit. Null when nothing can start.
   */
  claim(replica: string, at: number, leaseUntil: number, busy: (lock: string) => boolean, startEvents: EventMaker): Promise<Claimed | null>;
  /** The run a claim would try first (read only): the one to end when starting it fails. */
  nextQueued(): Promise<string | null>;
  queuedCount(): Promise<number>;
  /** 1 = next to start; null when not queued. */
  queuePosition(id: string): Promise<number | null>;
  /** Stores events (a number already stored is skipped, so a retry after a lost answer is harmless). */
  appendEvents(events: readonly RunEvent[]): Promise<void>;
  /** The end of a run that ran here, and its last events — in one commit. */
  finish(id: string, f: Finish, events: readonly RunEvent[]): Promise<void>;
  /** Ends a run that never started, its queued request deleted; false (nothing written) when it is not queued any more. */
  finishQueued(id: string, f: Finish, events: EventMaker): Promise<boolean>;
  get(id: string): Promise<RunRecord | null>;
  byIdempotencyKey(key: string): Promise<RunRecord | null>;
  list(q: ListQuery): Promise<RunRecord[]>;
  /** Events after `afterSeq`, exactly as they were appended. */
  events(id: string, afterSeq: number): Promise<RunEvent[]>;
  /** The run's highest event number (0: none). */
  lastSeq(id: string): Promise<number>;
  /**
   * At start-up: runs left running by this replica's previous process (a local store: every running run)
   * are now interrupted, their end and `closing` events written. Their ids.
   */
  recoverRunning(replica: string, f: Omit<Finish, "outcome">, outcome: (id: string, requestId: string, model: string | null) => RunOutcome, closing: EventMaker): Promise<string[]>;
  /** Runs whose replica stopped renewing its lease (it died): now interrupted, like recoverRunning. A local store has none. */
  expireLeases(f: Omit<Finish, "outcome">, outcome: (id: string, requestId: string, model: string | null) => RunOutcome, closing: EventMaker): Promise<string[]>;
  /** Extends this replica's lease on its running runs; returns those among them whose cancellation was asked for. */
  renewLeases(replica: string, runIds: readonly string[], leaseUntil: number): Promise<string[]>;
  /** Asks whichever replica runs `id` to stop it (stored, and announced to the others). */
  requestCancel(id: string): Promise<void>;
  /** Listens to other replicas' announcements; returns the way to stop. A local store has nothing to say. */
  watch(handlers: StoreWatch): () => void;
  /** What a follow-up of finished run `id` starts from (an opaque blob: its session, kept commits), written once it ended. */
  saveContinuation(id: string, data: Uint8Array): Promise<void>;
  loadContinuation(id: string): Promise<Uint8Array | null>;
  hasContinuation(id: string): Promise<boolean>;
  /** The diff kept by finish() for run `id`; null when none was. */
  diff(id: string): Promise<RunDiff | null>;
  /** Whether finish() kept a diff for run `id` (without reading it). */
  hasDiff(id: string): Promise<boolean>;
  /** A conversation's runs (its first run's id), oldest first; `after`: only runs newer than that position (keyset pages). */
  thread(threadId: string, limit: number, after?: { createdAt: number; id: string }, owner?: string): Promise<RunRecord[]>;
  /** The runs that continue run `id`, oldest first. */
  children(id: string): Promise<string[]>;
  /**
   * Deletes finished runs older than `before` (with their events and continuations); how many. A
   * conversation goes as a whole, once its newest run is that old: its budget and history stay whole.
   */
  prune(before: number): Promise<number>;
  /**
   * Webhook deliveries due at `now` (pending, oldest first; `after`: the next page, by (nextAt, id)):
   * read only — a replica takes one with moveDelivery. Every stored status change of a run with subscriptions made its delivery rows in the
   * same commit (its `webhooks`).
   */
  dueDeliveries(now: number, limit: number, after?: { nextAt: number; id: string }): Promise<Delivery[]>;
  /** Moves a pending delivery's due time from `from` to `to` (claiming or releasing it); false when it was not at `from`: another replica took it. */
  moveDelivery(id: string, from: number, to: number): Promise<boolean>;
  /** One attempt's outcome appended, and the delivery's next state. */
  recordAttempt(id: string, attempt: DeliveryAttempt, next: { state: DeliveryState; nextAt: number | null }): Promise<void>;
  /** A run's deliveries, in the order they were made. */
  deliveries(runId: string): Promise<Delivery[]>;
  /** A small write: rejects with a StoreError while the store cannot be written. */
  probe(): Promise<void>;
  close(): Promise<void>;
}

// What the run core needs from storage, in domain types: one SQLite implementation now (src/store/), Postgres next.
import type { ErrorCode } from "../errors.ts";
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
}

export interface ListQuery {
  statuses?: readonly RunStatus[];
  limit: number;
  /** Only runs strictly older than this (createdAt, id) position: keyset pagination, newest first. */
  before?: { createdAt: number; id: string };
}

export interface RunStore {
  /** Where it lives, for the start-up log (a file; later a database URL without its password). */
  readonly location: string;
  /** A new run, queued, with what it needs to start and its first events — in one commit. */
  enqueue(record: RunRecord, request: QueuedRequest, lock: string | null, events: readonly RunEvent[]): void;
  /** A new run that starts at once (a free slot, nothing ahead of it): stored as running, its request never written. */
  insertRunning(record: RunRecord, events: readonly RunEvent[]): void;
  /**
   * The oldest queued run whose lock is not busy, now running; its stored request is deleted as it is
   * handed over, and the events `startEvents` makes for it are written in the same commit. Null when
   * nothing can start.
   */
  claim(at: number, busy: (lock: string) => boolean, startEvents?: (runId: string) => readonly RunEvent[]): Claimed | null;
  /** The run a claim would try first (read only): the one to end when starting it fails. */
  nextQueued(): string | null;
  queuedCount(): number;
  /** 1 = next to start; null when not queued. */
  queuePosition(id: string): number | null;
  appendEvents(events: readonly RunEvent[]): void;
  /** The run's end, its queued request gone if it never started, and its last events — in one commit. */
  finish(id: string, f: Finish, events: readonly RunEvent[]): void;
  get(id: string): RunRecord | null;
  byIdempotencyKey(key: string): RunRecord | null;
  list(q: ListQuery): RunRecord[];
  /** Events after `afterSeq`, exactly as they were appended. */
  events(id: string, afterSeq: number): RunEvent[];
  /** The run's highest event number (0: none). */
  lastSeq(id: string): number;
  /** Runs left running by a server that died: now interrupted (queued runs stay queued). Their ids. */
  recoverRunning(at: number, reason: string): string[];
  /** Deletes finished runs older than `before`; how many. */
  prune(before: number): number;
  /** A small write: throws StoreError while the store cannot be written. */
  probe(): void;
  close(): void;
}

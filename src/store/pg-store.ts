// The run store in Postgres (Bun.sql) for many replicas: one durable queue, cross-replica branch locks, leases, announcements.
import { SQL, type TransactionSQL } from "bun";
import type { Logger } from "../lib/logger.ts";
import { type QueuedRequest, type RunEvent, type RunRecord } from "../runs/model.ts";
import { StoreError, type Claimed, type Enqueued, type EventMaker, type Finish, type ListQuery, type RunStore, type StoreWatch } from "../runs/store.ts";
import { admit } from "./pg-admit.ts";
import { claimNext, isUniqueViolation } from "./pg-claim.ts";
import { connectWithin, describeUrl, scrub, type PgTarget } from "./pg-connect.ts";
import { endRun, expiredAt, interruptRuns, leftBy } from "./pg-end.ts";
import { CHANNEL, cancelAnnouncement, listen, queueAnnouncement } from "./pg-notify.ts";
import { int, pgEventColumns, pgRecordOf, runColumns, writeEvents, type PgEventRow, type PgRunRow } from "./pg-rows.ts";
import { migrate } from "./pg-schema.ts";
import * as threads from "./pg-thread.ts";
import * as outbox from "./pg-deliveries.ts";
import type { DeliveryAttempt, DeliveryState } from "../webhooks/model.ts";
import { answerOf, eventOf } from "./rows.ts";

type Recover = Parameters<RunStore["recoverRunning"]>;

export interface PgStoreOptions {
  logger?: Logger;
  /** Connections in the pool (LISTEN takes one more of its own). */
  poolSize?: number;
}

export class PgRunStore implements RunStore {
  readonly kind = "postgres";
  readonly shared = true;
  readonly location: string;
  private readonly sql: SQL;
  private readonly target: PgTarget;
  /** Marks this instance's announcements, which its own watchers drop. */
  private readonly origin = crypto.randomUUID();
  private readonly watchers = new Set<{ stop(): Promise<void> }>();
  private closed = false;

  /** Connects lazily: nothing is opened until the first query (see open()). */
  constructor(
    url: string,
    private readonly opts: PgStoreOptions = {},
  ) {
    this.target = describeUrl(url);
    this.location = this.target.location;
    // The database is passed on its own: Bun lets PGDATABASE override the one in the URL.
    this.sql = new SQL(url, { max: opts.poolSize ?? 10, connectionTimeout: 10, ...(this.target.database ? { database: this.target.database } : {}) });
  }

  /** Connects (retrying until `connectTimeoutMs` has passed) and brings the schema up to date. */
  static async open(url: string, opts: PgStoreOptions & { connectTimeoutMs: number }): Promise<PgRunStore> {
    const store = new PgRunStore(url, opts);
    try {
      await connectWithin(store.sql, store.target, opts.connectTimeoutMs, opts.logger);
      const applied = await migrate(store.sql);
      if (applied.length > 0) opts.logger?.info("Postgres schema migrated", { target: store.target.target, versions: applied });
      return store;
    } catch (err) {
      await store.sql.close({ timeout: 0 }).catch(() => {});
      if (err instanceof StoreError) throw err;
      throw new StoreError(`prepare the Postgres schema at ${store.target.target}`, new Error(scrub(err instanceof Error ? err.message : String(err), store.target.secrets)));
    }
  }

  /** Every call: one place turns whatever Postgres or the pool throws into a rejected StoreError. */
  private async guard<T>(operation: string, fn: (sql: SQL) => Promise<T>): Promise<T> {
    try {
      return await fn(this.sql);
    } catch (err) {
      throw err instanceof StoreError ? err : new StoreError(operation, err);
    }
  }

  private tx<T>(fn: (tx: TransactionSQL) => Promise<T>): Promise<T> {
    return this.sql.begin(fn) as Promise<T>;
  }

  enqueue(record: RunRecord, request: QueuedRequest, lock: string | null, events: readonly RunEvent[], maxQueued: number): Promise<Enqueued> {
    return this.guard("queue a run", () => this.tx((tx) => admit(tx, { record, request, lock, events, maxQueued, origin: this.origin })));
  }

  /** Every replica must see a run before it runs anywhere: on a shared store, runs start only by claim. */
  async insertRunning(): Promise<void> {
    throw new StoreError("start a run outside the queue", new Error("a shared (Postgres) store starts runs only through the queue"));
  }

  claim(replica: string, at: number, leaseUntil: number, busy: (lock: string) => boolean, startEvents: EventMaker): Promise<Claimed | null> {
    return this.guard("start a queued run", async (sql) => {
      // The advisory lock makes a race for one branch rare; the unique index makes it harmless: try again.
      for (let attempt = 1; ; attempt++) {
        try {
          return await claimNext(sql, { replica, at, leaseUntil, busy, startEvents, origin: this.origin });
        } catch (err) {
          if (attempt >= 3 || !isUniqueViolation(err)) throw err;
        }
      }
    });
  }

  nextQueued(): Promise<string | null> {
    return this.guard("read the queue", async (sql) => {
      const [row] = (await sql`
        SELECT run_id FROM queue q
        WHERE lock_key IS NULL OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.lock_key = q.lock_key AND r.status = 'running')
        ORDER BY position LIMIT 1`) as { run_id: string }[];
      return row?.run_id ?? null;
    });
  }

  queuedCount(): Promise<number> {
    return this.guard("count queued runs", async (sql) => int(((await sql`SELECT count(*) AS n FROM queue`) as { n: string }[])[0]?.n ?? "0"));
  }

  queuePosition(id: string): Promise<number | null> {
    return this.guard("read a queue position", async (sql) => {
      const [row] = (await sql`SELECT (SELECT count(*) FROM queue q WHERE q.position <= queue.position) AS n FROM queue WHERE run_id = ${id}`) as { n: string }[];
      return row ? int(row.n) : null;
    });
  }

  appendEvents(events: readonly RunEvent[]): Promise<void> {
    return this.guard("record an event", (sql) => writeEvents(sql, this.origin, events));
  }

  finish(id: string, f: Finish, events: readonly RunEvent[]): Promise<void> {
    return this.guard("finish a run", () =>
      this.tx(async (tx) => {
        await endRun(tx, id, f);
        // A branch lock and a slot are free: replicas with room try to claim.
        await writeEvents(tx, this.origin, events, [queueAnnouncement(this.origin)]);
      }),
    );
  }

  finishQueued(id: string, f: Finish, events: EventMaker): Promise<boolean> {
    return this.guard("end a queued run", () =>
      this.tx(async (tx) => {
        // Waits for a claimer holding the row: once it commits, the row is gone and this run is not ours to end.
        const [row] = (await tx`
          WITH dequeued AS (DELETE FROM queue WHERE run_id = ${id} RETURNING run_id)
          SELECT (SELECT count(*) FROM dequeued) AS n, (SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ${id}) AS last_seq`) as { n: string; last_seq: number }[];
        if (!row || int(row.n) === 0) return false;
        await endRun(tx, id, f);
        await writeEvents(tx, this.origin, events(id, row.last_seq), [queueAnnouncement(this.origin)]);
        return true;
      }),
    );
  }

  get(id: string): Promise<RunRecord | null> {
    return this.guard("read a run", async (sql) => {
      const [row] = (await sql`SELECT ${runColumns(sql)} FROM runs WHERE id = ${id}`) as PgRunRow[];
      return row ? pgRecordOf(row) : null;
    });
  }

  byIdempotencyKey(key: string): Promise<RunRecord | null> {
    return this.guard("read a run", async (sql) => {
      const [row] = (await sql`SELECT ${runColumns(sql)} FROM runs WHERE idempotency_key = ${key}`) as PgRunRow[];
      return row ? pgRecordOf(row) : null;
    });
  }

  list(q: ListQuery): Promise<RunRecord[]> {
    return this.guard("list runs", async (sql) => {
      const statuses = q.statuses && q.statuses.length > 0 ? sql`AND status = ANY(${sql.array([...q.statuses], "TEXT")}::text[])` : sql``;
      const b = q.before;
      const before = b ? sql`AND (created_at < ${b.createdAt} OR (created_at = ${b.createdAt} AND id < ${b.id}))` : sql``;
      const owner = q.owner === undefined ? sql`` : sql`AND owner = ${q.owner}`;
      const rows = (await sql`SELECT ${runColumns(sql)} FROM runs WHERE true ${statuses} ${owner} ${before} ORDER BY created_at DESC, id DESC LIMIT ${q.limit}`) as PgRunRow[];
      return rows.map(pgRecordOf);
    });
  }

  events(id: string, afterSeq: number): Promise<RunEvent[]> {
    return this.guard("read events", async (sql) => {
      const rows = (await sql`
        SELECT e.seq, e.type, e.data, e.time, CASE WHEN e.type = 'result' THEN r.answer END AS answer
        FROM events e JOIN runs r ON r.id = e.run_id
        WHERE e.run_id = ${id} AND e.seq > ${afterSeq} ORDER BY e.seq`) as PgEventRow[];
      return rows.map((row) => eventOf(id, pgEventColumns(row), () => answerOf(row.answer)));
    });
  }

  lastSeq(id: string): Promise<number> {
    return this.guard("read events", async (sql) => ((await sql`SELECT coalesce(max(seq), 0) AS seq FROM events WHERE run_id = ${id}`) as { seq: number }[])[0]?.seq ?? 0);
  }

  /** Only this replica's runs: the others' are theirs while their leases last. */
  recoverRunning(replica: string, f: Recover[1], outcome: Recover[2], closing: Recover[3]): Promise<string[]> {
    return this.guard("recover runs", () => this.tx(async (tx) => interruptRuns(tx, this.origin, await leftBy(tx, replica), f, outcome, closing)));
  }

  /** Leases are compared with `f.at`, the caller's clock (replicas' clocks are assumed close; leases are long next to any skew). */
  expireLeases(f: Recover[1], outcome: Recover[2], closing: Recover[3]): Promise<string[]> {
    return this.guard("expire leases", () => this.tx(async (tx) => interruptRuns(tx, this.origin, await expiredAt(tx, f.at), f, outcome, closing)));
  }

  renewLeases(replica: string, runIds: readonly string[], leaseUntil: number): Promise<string[]> {
    if (runIds.length === 0) return Promise.resolve([]);
    return this.guard("renew leases", async (sql) => {
      const rows = (await sql`
        UPDATE runs SET lease_until = ${leaseUntil}
        WHERE id = ANY(${sql.array([...runIds], "TEXT")}::text[]) AND replica = ${replica} AND status = 'running'
        RETURNING id, cancel_requested`) as { id: string; cancel_requested: boolean }[];
      return rows.filter((r) => r.cancel_requested).map((r) => r.id);
    });
  }

  requestCancel(id: string): Promise<void> {
    return this.guard("ask for a cancellation", async (sql) => {
      await sql`
        WITH asked AS (UPDATE runs SET cancel_requested = true WHERE id = ${id} AND status IN ('queued', 'running') RETURNING id)
        SELECT pg_notify(${CHANNEL}, ${cancelAnnouncement(this.origin, id)}) FROM asked`;
    });
  }

  watch(handlers: StoreWatch): () => void {
    if (this.closed) return () => {};
    const watcher = listen(this.sql, this.origin, handlers, this.opts.logger);
    this.watchers.add(watcher);
    return () => {
      if (!this.watchers.delete(watcher)) return;
      watcher.stop().catch((err: unknown) => this.opts.logger?.warn("stopping the store announcements failed", { error: err }));
    };
  }

  saveContinuation = (id: string, data: Uint8Array) => this.guard("keep a run's session", (sql) => threads.saveContinuation(sql, id, data));
  loadContinuation = (id: string) => this.guard("read a run's session", (sql) => threads.loadContinuation(sql, id));
  hasContinuation = (id: string) => this.guard("read a run's session", (sql) => threads.hasContinuation(sql, id));
  diff = (id: string) => this.guard("read a run's diff", (sql) => threads.readDiff(sql, id));
  hasDiff = (id: string) => this.guard("read a run's diff", (sql) => threads.hasDiff(sql, id));
  thread = (threadId: string, limit: number, after?: { createdAt: number; id: string }, owner?: string) => this.guard("list a thread", (sql) => threads.thread(sql, threadId, limit, after, owner));
  children = (id: string) => this.guard("list a run's follow-ups", (sql) => threads.children(sql, id));
  prune = (before: number) => this.guard("prune runs", (sql) => threads.prune(sql, before));
  dueDeliveries = (now: number, limit: number, after?: { nextAt: number; id: string }) =>
    this.guard("read due webhook deliveries", (sql) => outbox.dueDeliveries(sql, now, limit, after));
  moveDelivery = (id: string, from: number, to: number) => this.guard("take a webhook delivery", (sql) => outbox.moveDelivery(sql, id, from, to));
  recordAttempt = (id: string, attempt: DeliveryAttempt, next: { state: DeliveryState; nextAt: number | null }) =>
    this.guard("record a webhook attempt", (sql) => outbox.recordAttempt(sql, id, attempt, next));
  deliveries = (runId: string) => this.guard("read a run's webhook deliveries", (sql) => outbox.deliveries(sql, runId));

  probe(): Promise<void> {
    return this.guard("write", async (sql) => {
      await sql`INSERT INTO probe (id, at) VALUES (1, ${Date.now()}) ON CONFLICT (id) DO UPDATE SET at = excluded.at`;
    });
  }

  /** Stops listening (announcements arriving later are dropped), then closes the pool, waiting up to 5 s for running queries. */
  async close(): Promise<void> {
    this.closed = true;
    const watchers = [...this.watchers];
    this.watchers.clear();
    await Promise.all(watchers.map((w) => Promise.race([w.stop().catch(() => {}), Bun.sleep(2000)])));
    await this.guard("close", (sql) => sql.close({ timeout: 5 }));
  }
}

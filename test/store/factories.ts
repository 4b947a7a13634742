// The two stores behind one harness, so one contract suite runs against both: a fresh store, a reopened one, raw SQL.
import { SQL } from "bun";
import { Database } from "bun:sqlite";
import path from "node:path";
import type { RunStore } from "../../src/runs/store.ts";
import { PgRunStore } from "../../src/store/pg-store.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { startPostgres, type PgCluster } from "../support/postgres.ts";
import { tempDir } from "../support/temp.ts";

export interface Harness {
  store: RunStore;
  /** Another store instance on the same data (a restarted process, or another replica). */
  open(): Promise<RunStore>;
  /** Raw SQL against the same data ($1 placeholders on Postgres, ? on SQLite). */
  query(text: string, ...args: (string | number)[]): Promise<Record<string, unknown>[]>;
}

export interface StoreFactory {
  name: "sqlite" | "postgres";
  setup(): Promise<void>;
  fresh(): Promise<Harness>;
  /** Closes every store and connection it made, and stops what setup started. */
  teardown(): Promise<void>;
}

function tracker() {
  const closers: (() => Promise<void>)[] = [];
  return {
    add<T extends { close(): Promise<void> }>(thing: T): T {
      closers.push(() => thing.close().catch(() => {}));
      return thing;
    },
    async closeAll() {
      for (const close of closers.splice(0).reverse()) await close();
    },
  };
}

export function sqliteFactory(): StoreFactory {
  const t = tracker();
  return {
    name: "sqlite",
    setup: async () => {},
    async fresh() {
      const file = path.join(tempDir("ocs-store-"), "runs.db");
      return {
        store: t.add(new SqliteRunStore(file)),
        open: async () => t.add(new SqliteRunStore(file)),
        async query(text, ...args) {
          const db = new Database(file, { readonly: true });
          try {
            return db.query(text).all(...args) as Record<string, unknown>[];
          } finally {
            db.close();
          }
        },
      };
    },
    teardown: () => t.closeAll(),
  };
}

export function postgresFactory(): StoreFactory {
  const t = tracker();
  let cluster: PgCluster | null = null;
  const running = () => {
    if (!cluster) throw new Error("setup() first");
    return cluster;
  };
  return {
    name: "postgres",
    async setup() {
      cluster = await startPostgres();
    },
    async fresh() {
      const url = await running().createDatabase();
      const raw = t.add(new SQL(url, { max: 1 }));
      return {
        store: t.add(await PgRunStore.open(url, { connectTimeoutMs: 10_000 })),
        open: async () => t.add(await PgRunStore.open(url, { connectTimeoutMs: 10_000 })),
        query: async (text, ...args) => (await raw.unsafe(text, args)) as Record<string, unknown>[],
      };
    },
    async teardown() {
      await t.closeAll();
      await cluster?.stop();
    },
  };
}

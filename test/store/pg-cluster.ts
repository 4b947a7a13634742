// One throwaway Postgres cluster per test file, and everything a test opened on it closed afterwards.
import { afterAll, beforeAll } from "bun:test";
import { startPostgres, type PgCluster } from "../support/postgres.ts";

export interface FileCluster {
  /** Started in beforeAll. */
  readonly cluster: PgCluster;
  /** Stores and connections to close (newest first) before the cluster stops. */
  readonly opened: { close(): Promise<void> }[];
}

export function clusterForFile(): FileCluster {
  let started: PgCluster | undefined;
  const opened: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    started = await startPostgres();
  });
  afterAll(async () => {
    for (const s of opened.splice(0).reverse()) await s.close().catch(() => {});
    await started?.stop();
  });
  return {
    get cluster() {
      if (!started) throw new Error("the Postgres cluster starts in beforeAll");
      return started;
    },
    opened,
  };
}

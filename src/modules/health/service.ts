// What /health reports: versions, load, whether the server is draining, and whether its run store can be written.
import type { Health } from "./model.ts";

export interface HealthSource {
  version: string;
  opencodeVersion(): string;
  auth: "api_key" | "none";
  sandbox: "bwrap" | "landlock" | "off";
  network: "proxy" | "none" | "open";
  startedAt: number;
  inFlight(): number;
  /** Runs waiting (over all replicas on a shared store). */
  queued(): Promise<number>;
  /** The same count when it can be had without a store read; null otherwise. */
  queuedIfFresh(): number | null;
  /** Which store and which replica answer. */
  store: { kind: "sqlite" | "postgres"; replica: string };
  draining(): boolean;
  /** Null while the run store can be written; otherwise why not. */
  storeProblem(): string | null;
}

export async function healthOf(src: HealthSource, now = Date.now()): Promise<Health> {
  return healthFrom(src, await src.queued(), now);
}

/** The answer for a known queue count. */
export function healthFrom(src: HealthSource, queued: number, now = Date.now()): Health {
  return {
    status: src.draining() ? "shutting_down" : src.storeProblem() !== null ? "degraded" : "healthy",
    timestamp: new Date(now).toISOString(),
    version: src.version,
    opencode_version: src.opencodeVersion(),
    auth: src.auth,
    sandbox: src.sandbox,
    network: src.network,
    store: src.storeProblem() === null ? "ok" : "unwritable",
    ...(src.storeProblem() !== null ? { store_error: src.storeProblem() as string } : {}),
    runs_in_flight: src.inFlight(),
    store_kind: src.store.kind,
    replica: src.store.replica,
    runs_queued: queued,
    uptime_seconds: Math.round((now - src.startedAt) / 100) / 10,
  };
}

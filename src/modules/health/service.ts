// What /health reports: versions, load and whether the server is draining.
import type { Health } from "./model.ts";

export interface HealthSource {
  version: string;
  opencodeVersion(): string;
  auth: "api_key" | "none";
  sandbox: "bwrap" | "landlock" | "off";
  network: "proxy" | "none" | "open";
  startedAt: number;
  inFlight(): number;
  queued(): number;
  draining(): boolean;
}

export function healthOf(src: HealthSource, now = Date.now()): Health {
  return {
    status: src.draining() ? "shutting_down" : "healthy",
    timestamp: new Date(now).toISOString(),
    version: src.version,
    opencode_version: src.opencodeVersion(),
    auth: src.auth,
    sandbox: src.sandbox,
    network: src.network,
    runs_in_flight: src.inFlight(),
    runs_queued: src.queued(),
    uptime_seconds: Math.round((now - src.startedAt) / 100) / 10,
  };
}

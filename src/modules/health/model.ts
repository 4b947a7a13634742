// The health answer's schema.
import { z } from "zod";
import { errorExample } from "../../http/error-model.ts";

export const HealthResponse = z
  .object({
    status: z.enum(["healthy", "degraded", "shutting_down"]).describe("degraded: the run store cannot be written, so new runs are refused (503 store_unavailable) until it can"),
    timestamp: z.string().describe("RFC 3339 time of the answer"),
    version: z.string().describe("opencode-server version"),
    opencode_version: z.string().describe('Version of the opencode CLI, probed right after the server starts listening; "unknown" until then'),
    auth: z.enum(["api_key", "none"]).describe('"none": API_KEY is unset and anyone who can reach the port may start runs'),
    sandbox: z.enum(["bwrap", "landlock", "off"]).describe("How each run's agent is contained (SANDBOX): bubblewrap, the Landlock fallback, or not at all"),
    network: z.enum(["proxy", "none", "open"]).describe("What agents can reach (AGENT_NETWORK, as far as the sandbox enforces it): allowed hosts through the egress proxy, their model providers only, or anything"),
    store: z.enum(["ok", "unwritable"]).describe("Whether the run store can be written (checked again every 2 s while it cannot)"),
    store_error: z.string().optional().describe("Why the store cannot be written"),
    store_kind: z.enum(["sqlite", "postgres"]).describe("sqlite: this server's own store in DATA_DIR; postgres: one store shared by every replica (DATABASE_URL)"),
    replica: z.string().describe("The replica that answered (REPLICA_ID, default the hostname)"),
    runs_in_flight: z.number().int().min(0),
    runs_queued: z.number().int().min(0),
    uptime_seconds: z.number().min(0),
  })
  .meta({
    id: "Health",
    examples: [
      { status: "healthy", timestamp: "2026-11-24T12:00:00.000Z", version: "0.1.0", opencode_version: "1.18.33", auth: "api_key", sandbox: "bwrap", network: "proxy", store: "ok", store_kind: "sqlite", replica: "opencode-server-0", runs_in_flight: 0, runs_queued: 0, uptime_seconds: 42.1 },
    ],
  });

export type Health = z.infer<typeof HealthResponse>;

/** The schema's own example is the healthy answer; the draining one differs in status (and load). */
const healthy = (HealthResponse.meta()?.examples as Health[])[0] as Health;

export const healthOperationDoc = {
  responses: {
    200: "The server is serving",
    // Every route answers this one, before the app sees the request; /health has no other client error.
    400: "invalid_request: no Host header, or one that does not parse (e.g. an HTTP/1.0 request without one)",
    503: "The server is shutting down (status shutting_down), or its run store cannot be written (status degraded)",
  },
  examples: {
    400: [{ summary: "invalid_request", value: errorExample("invalid_request", { error: "Missing or invalid Host header" }) }],
    503: [
      { summary: "shutting_down", value: { ...healthy, status: "shutting_down", runs_in_flight: 1 } },
      { summary: "degraded", value: { ...healthy, status: "degraded", store: "unwritable", store_error: "the run store failed to queue a run: database or disk is full" } },
    ],
  },
};

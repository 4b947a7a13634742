// The health answer's schema.
import { z } from "zod";

export const HealthResponse = z
  .object({
    status: z.enum(["healthy", "shutting_down"]),
    timestamp: z.string().describe("RFC 3339 time of the answer"),
    version: z.string().describe("opencode-server version"),
    opencode_version: z.string().describe('Version of the opencode CLI, probed right after the server starts listening; "unknown" until then'),
    runs_in_flight: z.number().int().min(0),
    runs_queued: z.number().int().min(0),
    uptime_seconds: z.number().min(0),
  })
  .meta({
    id: "Health",
    examples: [
      { status: "healthy", timestamp: "2026-11-24T12:00:00.000Z", version: "0.1.0", opencode_version: "1.18.33", runs_in_flight: 0, runs_queued: 0, uptime_seconds: 42.1 },
    ],
  });

export type Health = z.infer<typeof HealthResponse>;

export const healthOperationDoc = {
  responses: { 200: "The server is serving", 503: "The server is shutting down (status shutting_down)" },
};

// GET /health: unauthenticated liveness/readiness; 503 while draining or degraded so load balancers stop sending work.
import { Elysia } from "elysia";
import { errorResponses } from "../../http/error-model.ts";
import { HealthResponse } from "./model.ts";
import { healthOf, type HealthSource } from "./service.ts";

export function healthModule(src: HealthSource) {
  return new Elysia({ name: "health" }).get(
    "/health",
    async ({ set }) => {
      const health = await healthOf(src);
      if (health.status !== "healthy") set.status = 503;
      return health;
    },
    {
      response: { 200: HealthResponse, ...errorResponses(400), 503: HealthResponse },
      detail: {
        tags: ["system"],
        summary: "Health check",
        description: "No authentication. Answers 503 with status shutting_down while the server drains, and with status degraded while its run store cannot be written (new runs are refused then).",
        security: [],
      },
    },
  );
}

// GET /metrics: Prometheus text format; needs a key with the metrics scope unless METRICS_PUBLIC=true.
import { Elysia } from "elysia";
import { can } from "../../auth/caller.ts";
import { AppError } from "../../errors.ts";
import { callerOf } from "../../http/request-context.ts";
import { SECURITY } from "../../http/docs.ts";
import type { Metrics } from "../../metrics/metrics.ts";

/** `settled`: resolves once every run answered so far is counted (their ends are counted as they are written). */
export function metricsModule(metrics: Metrics, opts: { public: boolean; settled: () => Promise<void> }) {
  return new Elysia({ name: "metrics" }).get(
    "/metrics",
    async ({ request }) => {
      const caller = callerOf(request);
      if (!opts.public && !can(caller, "metrics")) throw new AppError("forbidden", `The API key "${caller.name ?? ""}" lacks the scope metrics`);
      await opts.settled();
      return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });
    },
    {
      detail: {
        tags: ["system"],
        summary: "Prometheus metrics",
        description:
          "opencode_server_runs_total{status,code}, opencode_server_run_duration_seconds, opencode_server_queue_depth, opencode_server_runs_in_flight, " +
          "opencode_server_tokens_total{kind}, opencode_server_cost_usd_total, opencode_server_key_runs_total{key,status}, opencode_server_run_cost_usd_total{key}, " +
          "opencode_server_key_tokens_total{key}, opencode_server_git_failures_total{operation}, " +
          "opencode_server_http_requests_total{method,route,status}, opencode_server_http_request_duration_seconds, process_resident_memory_bytes, process_open_fds. " +
          "Needs a key with the metrics scope unless METRICS_PUBLIC=true.",
        security: opts.public ? [] : SECURITY,
      },
    },
  );
}

export const metricsOperationDoc = {
  addResponses: {
    200: { description: "Prometheus text exposition format", content: { "text/plain; version=0.0.4": { schema: { type: "string" } } } },
    401: { description: "unauthorized: no valid API key (unless METRICS_PUBLIC=true)", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
    403: { description: "forbidden: the key lacks the metrics scope", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
  },
};

// Composes the HTTP application: errors, auth, size limits, docs, then the feature modules (src/http/edge.ts wraps it).
import { Elysia } from "elysia";
import type { KeyRegistry } from "./auth/keys.ts";
import { auth } from "./http/auth.ts";
import { contentLengthGuard } from "./http/body.ts";
import { docs } from "./http/docs.ts";
import { errorHandler } from "./http/errors.ts";
import type { Logger } from "./lib/logger.ts";
import type { Metrics } from "./metrics/metrics.ts";
import { healthModule } from "./modules/health/index.ts";
import { healthOperationDoc } from "./modules/health/model.ts";
import { metricsModule, metricsOperationDoc } from "./modules/metrics/index.ts";
import { runModule } from "./modules/run/index.ts";
import { followUpRequestBody, runFailureExample, runOperationDoc } from "./modules/run/model.ts";
import { diffOperationDoc, eventsOperationDoc, runsModule, runsOperationDocs } from "./modules/runs/index.ts";
import { RunsController } from "./modules/runs/controller.ts";
import { dashboardModule } from "./modules/dashboard/index.ts";
import type { RunService } from "./runs/service.ts";
import type { HealthSource } from "./modules/health/service.ts";

export interface AppDeps {
  logger: Logger;
  /** API_KEY's and API_KEYS_FILE's keys (reloaded in place on SIGHUP). */
  keys: KeyRegistry;
  maxRequestBytes: number;
  version: string;
  runs: RunService;
  /** What GET /health reports (shared with its native route, see healthSourceOf). */
  health: HealthSource;
  metrics: Metrics;
  metricsPublic: boolean;
  docsPublic: boolean;
  /** Serve the web dashboard (/ui). */
  dashboard: boolean;
}

export function createApp(deps: AppDeps) {
  const { runs, metrics } = deps;
  const limits = { maxRequestBytes: deps.maxRequestBytes };
  const controller = new RunsController(runs);
  return new Elysia()
    .use(errorHandler(deps.logger))
    .use(auth(deps.keys, { metrics: deps.metricsPublic, docs: deps.docsPublic, dashboard: deps.dashboard }))
    .use(contentLengthGuard(deps.maxRequestBytes))
    .use(
      docs(deps.version, {
        "POST /run": runOperationDoc(),
        ...runsOperationDocs,
        "POST /runs": { ...runsOperationDocs["POST /runs"], requestBody: runOperationDoc().requestBody },
        "POST /runs/{id}/messages": { ...runsOperationDocs["POST /runs/{id}/messages"], requestBody: followUpRequestBody() },
        "GET /runs/{id}/events": eventsOperationDoc,
        "GET /runs/{id}/diff": diffOperationDoc,
        "GET /metrics": metricsOperationDoc,
        "GET /health": healthOperationDoc,
      }, { RunFailure: runFailureExample }),
    )
    .use(healthModule(deps.health))
    .use(runModule(controller, limits))
    .use(runsModule(controller, limits))
    .use(metricsModule(metrics, { public: deps.metricsPublic, settled: () => runs.endsWritten() }))
    .use(deps.dashboard ? dashboardModule() : new Elysia({ name: "dashboard" }));
}

export type App = ReturnType<typeof createApp>;

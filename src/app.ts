// Composes the HTTP application: request context, errors, auth, size limits, docs, then the feature modules.
import { Elysia } from "elysia";
import { auth } from "./http/auth.ts";
import { contentLengthGuard } from "./http/body.ts";
import { docs } from "./http/docs.ts";
import { errorHandler } from "./http/errors.ts";
import { requestContext } from "./http/request-context.ts";
import type { Logger } from "./lib/logger.ts";
import { healthModule } from "./modules/health/index.ts";
import { runModule } from "./modules/run/index.ts";
import { runOperationDoc } from "./modules/run/model.ts";
import { healthOperationDoc } from "./modules/health/model.ts";
import { RunService } from "./modules/run/service.ts";
import type { RunManager } from "./runs/run-manager.ts";

export interface AppDeps {
  logger: Logger;
  apiKeys: readonly string[];
  maxRequestBytes: number;
  version: string;
  opencodeVersion: string;
  startedAt: number;
  runs: RunManager;
}

export function createApp(deps: AppDeps) {
  const { runs } = deps;
  return new Elysia()
    .use(requestContext(deps.logger))
    .use(errorHandler(deps.logger))
    .use(auth(deps.apiKeys))
    .use(contentLengthGuard(deps.maxRequestBytes))
    .use(docs(deps.version, { "POST /run": runOperationDoc(), "GET /health": healthOperationDoc }))
    .use(
      healthModule({
        version: deps.version,
        opencodeVersion: deps.opencodeVersion,
        startedAt: deps.startedAt,
        inFlight: () => runs.inFlight,
        draining: () => runs.isDraining,
      }),
    )
    .use(runModule(new RunService(runs), { maxRequestBytes: deps.maxRequestBytes }));
}

export type App = ReturnType<typeof createApp>;

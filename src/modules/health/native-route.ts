// GET /health as a native Bun.serve route: the probe every load balancer sends skips the framework, and keeps its answer, id, metric and log line.
import type { Server } from "bun";
import { requestIdFrom } from "../../http/request-context.ts";
import type { Logger } from "../../lib/logger.ts";
import { healthOf, type HealthSource } from "./service.ts";

/** Counts one answered probe (the same series the edge counts other requests in). */
export type HealthObserver = (method: string, status: number, seconds: number) => void;

type Handler = (request: Request, server: Server<unknown> | null) => Response | Promise<Response>;

/**
 * The answer equals the app's GET /health (test/routes/health-native.test.ts compares them); what the
 * framework route adds per request — its router, the auth and size hooks, zod checking a value the
 * types already fix — costs half the throughput of a bare server (bench 2). Anything unusual (a Host
 * that does not parse) goes to the app through `fallback`, which answers it as always.
 */
export function nativeHealthRoute(src: HealthSource, logger: Logger, observe: HealthObserver, fallback: Handler): { GET: Handler; HEAD: Handler } {
  const handle: Handler = async (request, server) => {
    if (!URL.canParse(request.url)) return fallback(request, server);
    const started = performance.now();
    const id = requestIdFrom(request.headers.get("x-request-id"));
    const health = await healthOf(src);
    const status = health.status === "healthy" ? 200 : 503;
    const response = new Response(JSON.stringify(health), { status, headers: { "content-type": "application/json;charset=utf-8", "x-request-id": id } });
    const seconds = (performance.now() - started) / 1000;
    observe(request.method, status, seconds);
    // Probes are logged at debug, as the edge logs them; a draining or degraded answer is worth a line.
    const level = status === 200 ? "debug" : "warn";
    if (logger.enabled(level)) {
      logger[level]("request", {
        request_id: id,
        method: request.method,
        path: "/health",
        status,
        duration_ms: Math.round(seconds * 100_000) / 100,
        client: server?.requestIP(request)?.address ?? "unknown",
      });
    }
    return response;
  };
  return { GET: handle, HEAD: handle };
}

// The server's outermost layer: every request gets an id (echoed), one log line and a count, whatever the app does.
import type { Server } from "bun";
import { statusOf } from "./status.ts";
import type { Logger } from "../lib/logger.ts";
import { errorBody } from "./errors.ts";
import { beginRequest, clientOf } from "./request-context.ts";

/** Told about every finished request (metrics); `route` is the matched pattern, never the raw path. */
export type RequestObserver = (method: string, route: string, status: number, seconds: number) => void;

export interface EdgeApp {
  fetch(request: Request): Response | Promise<Response>;
  readonly routes: readonly { method: string; path: string }[];
}

/** Probes hit these every few seconds: at info their lines would bury everything else. */
const QUIET_PATHS = new Set(["/health", "/metrics"]);

/** Matches a path to the app's route patterns (`/runs/:id` → `/runs/[^/]+`), for a bounded metrics label. */
export function routeMatcher(routes: readonly { method: string; path: string }[]): (method: string, path: string) => string {
  const compiled = routes.map((r) => ({
    method: r.method,
    pattern: r.path,
    regex: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[^/]+/g, "[^/]+").replace(/\*/g, ".*")}$`),
  }));
  return (method, path) => {
    for (const r of compiled) if ((r.method === method || r.method === "ALL" || (method === "HEAD" && r.method === "GET")) && r.regex.test(path)) return r.pattern;
    return "unmatched";
  };
}

function pathOf(url: string): string {
  // The path only: a query string may carry things that do not belong in logs.
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const end = url.indexOf("?", start);
  return end === -1 ? url.slice(start) : url.slice(start, end);
}

function badHost(requestId: string): Response {
  return new Response(JSON.stringify(errorBody("invalid_request", "Missing or invalid Host header", requestId)), {
    status: statusOf("invalid_request"),
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/**
 * Wraps the app in the handler Bun.serve calls. Doing this outside Elysia's lifecycle keeps it to
 * one place with a `finally`, and costs a fraction of an after-response hook (bench/throughput.ts).
 */
export function createEdge(app: EdgeApp, logger: Logger, observe?: RequestObserver) {
  const routeOf = routeMatcher(app.routes);
  // Counted on the loop's next turn, once the answer is written (matching the route and counting took ~35 µs of a
  // run's answer here); `flush` counts what is pending at once, for a scrape.
  const pending: [method: string, path: string, status: number, seconds: number][] = [];
  const flush = () => {
    for (const [method, path, status, seconds] of pending.splice(0)) observe?.(method, routeOf(method, path), status, seconds);
  };
  const handle = async (request: Request, server: Server<unknown> | null = null): Promise<Response> => {
    const meta = beginRequest(request, server);
    let response: Response;
    try {
      // Without a Host header (HTTP/1.0) or with a malformed one, Bun hands over a URL nothing can parse.
      response = URL.canParse(request.url) ? await app.fetch(request) : badHost(meta.id);
    } catch (error) {
      // The app answers its own errors; this is the last line of defence.
      logger.error("unhandled error", { request_id: meta.id, error });
      response = Response.json(errorBody("internal", "Internal server error", meta.id), { status: statusOf("internal") });
    }
    // Bun's Response headers are always mutable (Elysia clones static responses before they get here).
    response.headers.set("x-request-id", meta.id);
    const status = response.status;
    const seconds = (performance.now() - meta.started) / 1000;
    const path = pathOf(request.url);
    if (observe && pending.push([request.method, path, status, seconds]) === 1) setImmediate(flush);
    const level = meta.loggedElsewhere ? "debug" : status >= 500 ? "warn" : QUIET_PATHS.has(path) && status < 400 ? "debug" : "info";
    if (logger.enabled(level)) {
      logger[level]("request", {
        request_id: meta.id,
        method: request.method,
        path: path.length > 200 ? path.slice(0, 200) + "…" : path,
        status,
        duration_ms: Math.round(seconds * 100_000) / 100,
        client: clientOf(request),
        // The key's name (never the key): who did what, for an operator.
        ...(meta.caller?.name ? { key: meta.caller.name } : {}),
      });
    }
    return response;
  };
  return Object.assign(handle, { flush });
}

export type EdgeHandler = ReturnType<typeof createEdge>;

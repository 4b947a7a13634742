// GET /health as a native Bun.serve route: the probe every load balancer sends skips the framework, and keeps its answer, id, metric and log line.
import type { Server } from "bun";
import { requestIdFrom } from "../../http/request-context.ts";
import type { Logger } from "../../lib/logger.ts";
import { healthFrom, type HealthSource } from "./service.ts";

/** Counts one answered probe (the same series the edge counts other requests in). */
export type HealthObserver = (method: string, status: number, seconds: number) => void;

type Handler = (request: Request, server: Server<unknown> | null) => Response | Promise<Response>;

/** What the body was made from: the same inputs within the same millisecond give the same bytes. */
interface Made {
  ms: number;
  queued: number;
  inFlight: number;
  draining: boolean;
  problem: string | null;
  opencode: string;
  body: string;
  status: number;
}

/**
 * The answer equals the app's GET /health (test/routes/health-native.test.ts compares them); what the
 * framework route adds per request — its router, the auth and size hooks, zod checking a value the
 * types already fix — costs half the throughput of a bare server (bench 2). A missing Host, or one that
 * does not parse, goes to the app through `fallback`, which refuses it (400) as on every route; the Host
 * is checked from the headers, which the request id reads anyway: making the request's URL costs ~1.3 µs.
 *
 * Under a flood of probes most of the remaining cost was making the same answer again: its JSON, its
 * timestamp, a wait for the queue count. So the answer is synchronous whenever the queue count is
 * fresh (it is re-read only after a change or a second), and its body is reused while every input and
 * the millisecond of its timestamp are the same — byte for byte what it would have been made again.
 */
export function nativeHealthRoute(src: HealthSource, logger: Logger, observe: HealthObserver, fallback: Handler): { GET: Handler; HEAD: Handler } {
  let made: Made | null = null;
  // Never null: a missing Host must always be checked (and refused).
  let goodHost: string | undefined;

  const bodyFor = (queued: number): Made => {
    const ms = Date.now();
    const inFlight = src.inFlight();
    const draining = src.draining();
    const problem = src.storeProblem();
    const opencode = src.opencodeVersion();
    const m = made;
    if (m && m.ms === ms && m.queued === queued && m.inFlight === inFlight && m.draining === draining && m.problem === problem && m.opencode === opencode) return m;
    const health = healthFrom(src, queued, ms);
    made = { ms, queued, inFlight, draining, problem, opencode, body: JSON.stringify(health), status: health.status === "healthy" ? 200 : 503 };
    return made;
  };

  // The method is the handler's own (GET or HEAD): reading it off the request costs.
  const answer = (method: string, request: Request, server: Server<unknown> | null, started: number, queued: number): Response | Promise<Response> => {
    const headers = request.headers;
    const host = headers.get("host");
    if (host !== goodHost) {
      if (host === null || !URL.canParse(`http://${host}/`)) return fallback(request, server);
      // A prober sends the same Host every time: checked once.
      goodHost = host;
    }
    const id = requestIdFrom(headers.get("x-request-id"));
    const { body, status } = bodyFor(queued);
    const response = new Response(body, { status, headers: { "content-type": "application/json;charset=utf-8", "x-request-id": id } });
    const seconds = (performance.now() - started) / 1000;
    observe(method, status, seconds);
    // Probes are logged at debug, as the edge logs them; a draining or degraded answer is worth a line.
    const level = status === 200 ? "debug" : "warn";
    if (logger.enabled(level)) {
      logger[level]("request", {
        request_id: id,
        method,
        path: "/health",
        status,
        duration_ms: Math.round(seconds * 100_000) / 100,
        client: server?.requestIP(request)?.address ?? "unknown",
      });
    }
    return response;
  };

  const handler =
    (method: string): Handler =>
    (request, server) => {
      const started = performance.now();
      const queued = src.queuedIfFresh();
      if (queued !== null) return answer(method, request, server, started, queued);
      return src.queued().then((n) => answer(method, request, server, started, n));
    };
  return { GET: handler("GET"), HEAD: handler("HEAD") };
}

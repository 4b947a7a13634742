// Gives every request an id (honouring a sane X-Request-ID), echoes it, and logs one line per request.
import { randomUUID } from "node:crypto";
import { Elysia } from "elysia";
import type { Logger } from "../lib/logger.ts";

export interface RequestMeta {
  id: string;
  started: number;
  client: string;
}

const metas = new WeakMap<Request, RequestMeta>();
const SANE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function requestMeta(request: Request): RequestMeta {
  let meta = metas.get(request);
  if (!meta) {
    meta = { id: randomUUID(), started: performance.now(), client: "unknown" };
    metas.set(request, meta);
  }
  return meta;
}

export function requestIdFrom(header: string | null): string {
  return header && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

/** Told about every finished request (metrics); `route` is the matched pattern, never the raw path. */
export type RequestObserver = (method: string, route: string, status: number, seconds: number) => void;

export function requestContext(logger: Logger, observe?: RequestObserver) {
  return new Elysia({ name: "request-context" })
    .onRequest(({ request, set, server }) => {
      const meta: RequestMeta = {
        id: requestIdFrom(request.headers.get("x-request-id")),
        started: performance.now(),
        client: server?.requestIP(request)?.address ?? "unknown",
      };
      metas.set(request, meta);
      set.headers["x-request-id"] = meta.id;
    })
    .onAfterResponse({ as: "global" }, ({ request, set, route }) => {
      const meta = requestMeta(request);
      const status = typeof set.status === "number" ? set.status : Number(set.status) || 200;
      const seconds = (performance.now() - meta.started) / 1000;
      observe?.(request.method, route || "unmatched", status, seconds);
      // The path only: a query string may carry things that do not belong in logs.
      const path = new URL(request.url).pathname;
      logger[status >= 500 ? "warn" : "info"]("request", {
        request_id: meta.id,
        method: request.method,
        path: path.length > 200 ? path.slice(0, 200) + "…" : path,
        status,
        duration_ms: Math.round(seconds * 100_000) / 100,
        client: meta.client,
      });
    });
}

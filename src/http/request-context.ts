// Per-request identity kept beside the Request: its id (a sane X-Request-ID or a new one), start time and server.
import { randomUUID } from "node:crypto";
import type { Server } from "bun";
import { NOBODY, type Caller } from "../auth/caller.ts";

export interface RequestMeta {
  id: string;
  started: number;
  /** The Bun server that received the request; null when a test hands the request to the app directly. */
  server: Server<unknown> | null;
  /** The request's outcome has a log line of its own (a synchronous run's end): the edge logs it at debug. */
  loggedElsewhere?: boolean;
  /** Who the request's key belongs to, once auth has matched it (the request log names the key). */
  caller?: Caller;
}

const metas = new WeakMap<Request, RequestMeta>();
const SANE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function requestIdFrom(header: string | null): string {
  return header && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

/** Called once, first thing, for every request the server receives. */
export function beginRequest(request: Request, server: Server<unknown> | null): RequestMeta {
  const meta: RequestMeta = { id: requestIdFrom(request.headers.get("x-request-id")), started: performance.now(), server };
  metas.set(request, meta);
  return meta;
}

export function requestMeta(request: Request): RequestMeta {
  return metas.get(request) ?? beginRequest(request, null);
}

/** The peer's address, or "unknown". */
export function clientOf(request: Request): string {
  return requestMeta(request).server?.requestIP(request)?.address ?? "unknown";
}

/** A run or an event stream may stay silent for minutes: lift the connection's idle timeout for this request. */
export function holdOpen(request: Request): void {
  requestMeta(request).server?.timeout(request, 0);
}

/** The authenticated caller; a request no auth step vouched for may do nothing. */
export function callerOf(request: Request): Caller {
  return requestMeta(request).caller ?? NOBODY;
}

// API-key authentication for every route but the public ones, compared in constant time.
import { createHash, timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import { AppError } from "../errors.ts";

export const WWW_AUTHENTICATE = 'Bearer realm="opencode-server", Api-Key realm="opencode-server"';
const AUTH_HELP = "Authentication required: send Authorization: Bearer <key>, Authorization: Api-Key <key> or X-API-Key: <key>";
const SCHEME = /^(bearer|api-key)\s+(.+)$/i;

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** The credentials a request presents, from any of the three accepted headers. */
export function presentedKeys(headers: Headers): string[] {
  const keys: string[] = [];
  const authorization = headers.get("authorization");
  const m = authorization ? SCHEME.exec(authorization.trim()) : null;
  if (m) keys.push((m[2] as string).trim());
  const apiKey = headers.get("x-api-key");
  if (apiKey) keys.push(apiKey.trim());
  return keys;
}

/**
 * True when any presented key equals any configured key. Keys are hashed first so every
 * comparison has the same length, and every pair is compared so timing reveals nothing.
 */
export function keyMatches(presented: string[], configured: readonly Buffer[]): boolean {
  let ok = false;
  for (const p of presented) {
    const d = digest(p);
    for (const c of configured) ok = timingSafeEqual(d, c) || ok;
  }
  return ok;
}

export interface PublicRoutes {
  metrics?: boolean;
  /** Default true: the docs describe the API, they expose nothing of it. */
  docs?: boolean;
  /** The dashboard's page and files (and / that redirects to it): code, never data — its API calls send the key. */
  dashboard?: boolean;
}

export function isPublicPath(path: string, open: PublicRoutes = {}): boolean {
  if (path === "/health") return true;
  if (path === "/metrics") return open.metrics === true;
  if (open.dashboard === true && (path === "/" || path === "/ui" || path.startsWith("/ui/"))) return true;
  return (open.docs ?? true) && (path === "/swagger" || path.startsWith("/swagger/") || path === "/favicon.ico");
}

export function auth(apiKeys: readonly string[], opts: PublicRoutes = {}) {
  const configured = apiKeys.map(digest);
  return new Elysia({ name: "auth" }).onRequest(({ request, set }) => {
    if (configured.length === 0 || isPublicPath(new URL(request.url).pathname, opts)) return;
    if (keyMatches(presentedKeys(request.headers), configured)) return;
    set.headers["www-authenticate"] = WWW_AUTHENTICATE;
    throw new AppError("unauthorized", AUTH_HELP);
  });
}

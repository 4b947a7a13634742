// API-key authentication for every route but the public ones, compared in constant time; the matched key's caller rides on the request.
import { Elysia } from "elysia";
import { ANONYMOUS } from "../auth/caller.ts";
import type { KeyRegistry } from "../auth/keys.ts";
import { AppError } from "../errors.ts";
import { requestMeta } from "./request-context.ts";

export const WWW_AUTHENTICATE = 'Bearer realm="opencode-server", Api-Key realm="opencode-server"';
const AUTH_HELP = "Authentication required: send Authorization: Bearer <key>, Authorization: Api-Key <key> or X-API-Key: <key>";
const SCHEME = /^(bearer|api-key)\s+(.+)$/i;

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

export function auth(keys: KeyRegistry, opts: PublicRoutes = {}) {
  return new Elysia({ name: "auth" }).onRequest(({ request, set }) => {
    const meta = requestMeta(request);
    if (!keys.enabled) {
      meta.caller = ANONYMOUS;
      return;
    }
    if (isPublicPath(new URL(request.url).pathname, opts)) return;
    const match = keys.match(presentedKeys(request.headers));
    if (match.kind === "ok") {
      meta.caller = match.caller;
      return;
    }
    set.headers["www-authenticate"] = WWW_AUTHENTICATE;
    // The key was right once: saying so tells its holder to get a new one, and nothing to someone guessing.
    if (match.kind === "expired") throw new AppError("key_expired", `The API key "${match.name}" has expired: ask for a new one`);
    throw new AppError("unauthorized", AUTH_HELP);
  });
}

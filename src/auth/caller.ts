// Who makes a request, as the run layer sees it: a key's name and scopes (never the key), and what they allow.
import { AppError } from "../errors.ts";
import { NO_LIMITS, type Limits } from "../runs/model.ts";

export const SCOPES = ["runs:create", "runs:read", "runs:read-all", "runs:cancel", "runs:cancel-all", "metrics", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

export interface Caller {
  /** The key's name (runs are owned by it); null when the server has no keys at all. */
  name: string | null;
  scopes: ReadonlySet<Scope>;
  /** The key's own budget ceilings (max_run_*), under the server's MAX_RUN_*; null: none. */
  ceilings: Limits;
}

/** `admin` implies every scope. */
export function scopeSet(scopes: Iterable<Scope>): ReadonlySet<Scope> {
  const set = new Set(scopes);
  return set.has("admin") ? new Set(SCOPES) : set;
}

/** A server without keys: everyone may do everything, and runs are owned by nobody (null). */
export const ANONYMOUS: Caller = { name: null, scopes: scopeSet(["admin"]), ceilings: NO_LIMITS };

/** What a route gets when no authentication step vouched for the request: nothing is allowed. */
export const NOBODY: Caller = { name: "", scopes: new Set(), ceilings: NO_LIMITS };

export function can(caller: Caller, scope: Scope): boolean {
  return caller.scopes.has(scope);
}

/** A run owned by `owner` is readable: the caller's own (runs:read), or any (runs:read-all). Runs from before owners (null) need read-all. */
export function canRead(caller: Caller, owner: string | null): boolean {
  if (can(caller, "runs:read-all")) return true;
  return owner !== null && owner === caller.name && can(caller, "runs:read");
}

export function canCancel(caller: Caller, owner: string | null): boolean {
  if (can(caller, "runs:cancel-all")) return true;
  return owner !== null && owner === caller.name && can(caller, "runs:cancel");
}

/** A valid key without the scope for what it asked (a run it may not read is a 404 instead). */
export function forbidden(caller: Caller, scope: Scope): AppError {
  return new AppError("forbidden", `The API key "${caller.name ?? ""}" lacks the scope ${scope}`);
}

/** The owner a listing is limited to: undefined (every run) for runs:read-all, else the caller's own; 403 without a read scope. */
export function listOwner(caller: Caller): string | undefined {
  if (can(caller, "runs:read-all")) return undefined;
  if (!can(caller, "runs:read")) throw forbidden(caller, "runs:read");
  return caller.name ?? "";
}

// The one table mapping each error code to its HTTP status.
import type { ErrorCode } from "../errors.ts";

export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  unauthorized: 401,
  repository_not_allowed: 403,
  permission_denied: 403,
  not_found: 404,
  timeout: 408,
  idle_timeout: 408,
  cancelled: 409,
  run_finished: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_conflict: 422,
  rate_limited: 429,
  client_closed: 499,
  agent_failed: 500,
  internal: 500,
  clone_failed: 502,
  push_failed: 502,
  shutting_down: 503,
  interrupted: 503,
  store_unavailable: 503,
  // 402: the run spent what it was allowed to (a budget, like a payment limit), not a fault of the request.
  budget_exceeded: 402,
  run_not_finished: 409,
  session_gone: 410,
  // The push landed; the forge refused or failed the pull request (as push_failed: the far end's fault).
  pull_request_failed: 502,
  callback_not_allowed: 403,
  key_expired: 401,
  // A valid key without the scope the route needs (a run it cannot read is a 404 instead: not_found).
  forbidden: 403,
};

export function statusOf(code: ErrorCode): number {
  return ERROR_STATUS[code];
}

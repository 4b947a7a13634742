// The closed set of error codes the server answers with, and the one error type that carries them (statuses live in src/http/status.ts).

export const ERROR_CODES = [
  "invalid_request",
  "unauthorized",
  "repository_not_allowed",
  "permission_denied",
  "not_found",
  "timeout",
  "idle_timeout",
  "cancelled",
  "run_finished",
  "payload_too_large",
  "unsupported_media_type",
  "idempotency_conflict",
  "rate_limited",
  "client_closed",
  "agent_failed",
  "internal",
  "clone_failed",
  "push_failed",
  "shutting_down",
  "interrupted",
  "store_unavailable",
  "budget_exceeded",
  "run_not_finished",
  "session_gone",
  "pull_request_failed",
  "callback_not_allowed",
  "key_expired",
  "forbidden",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  override readonly name = "AppError";
  readonly code: ErrorCode;
  /** Extra machine-readable fields merged into the JSON answer (e.g. `field` for validation errors). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

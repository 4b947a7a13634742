// The closed set of error codes the server answers with, and the one table mapping each code to its HTTP status.

export const ERROR_STATUS = {
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
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export function statusOf(code: ErrorCode): number {
  return ERROR_STATUS[code];
}

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

  get status(): number {
    return statusOf(this.code);
  }
}

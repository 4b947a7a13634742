// Turns anything thrown while handling a request into the one error JSON shape; unknown errors become a logged 500.
import { Elysia } from "elysia";
import { AppError, type ErrorCode } from "../errors.ts";
import { statusOf } from "./status.ts";
import type { Logger } from "../lib/logger.ts";
import type { ErrorBody } from "./error-model.ts";
import { requestMeta } from "./request-context.ts";

interface Issue {
  path?: readonly PropertyKey[];
  message?: string;
  /** For an unknown field (zod's unrecognized_keys): the names, which are not in `path`. */
  keys?: readonly string[];
}

/** zod's first issue as an invalid_request naming the field and saying what is wrong with it. */
export function invalidRequest(issue: Issue | undefined): AppError {
  const segments = [...(issue?.path ?? []), ...(issue?.keys?.slice(0, 1) ?? [])];
  const field = segments.length > 0 ? segments.map(String).join(".") : undefined;
  const message = issue?.keys?.length ? "unknown field (a typo? unknown fields are refused so nothing runs differently than asked)" : (issue?.message ?? "Invalid request");
  return new AppError("invalid_request", field ? `Invalid field "${field}": ${message}` : `Invalid request body: ${message}`, field ? { field } : {});
}

export function errorBody(code: ErrorCode, message: string, requestId: string, extra: Record<string, unknown> = {}): ErrorBody {
  return { success: false, code, error: message, request_id: requestId, ...extra };
}

export function errorHandler(logger: Logger) {
  return new Elysia({ name: "error-handler" }).onError({ as: "global" }, ({ code, error, request, set }) => {
    const requestId = requestMeta(request).id;
    // Elysia wraps whatever a body parser throws; ours throws AppErrors with the precise reason.
    const cause = code === "PARSE" ? (error as Error).cause : undefined;
    let appError: AppError;
    if (error instanceof AppError) {
      appError = error;
    } else if (cause instanceof AppError) {
      appError = cause;
    } else if (code === "VALIDATION" && (error as { type?: string }).type !== "response") {
      appError = invalidRequest((error as { valueError?: Issue }).valueError);
    } else if (code === "NOT_FOUND") {
      appError = new AppError("not_found", `No route for ${request.method} ${new URL(request.url).pathname.slice(0, 200)}`);
    } else if (code === "PARSE") {
      appError = new AppError("invalid_request", "Malformed request body");
    } else {
      logger.error("unhandled error", { request_id: requestId, error });
      appError = new AppError("internal", "Internal server error");
    }
    set.status = statusOf(appError.code);
    set.headers["content-type"] = "application/json; charset=utf-8";
    if (typeof appError.details.retry_after === "number") set.headers["retry-after"] = String(appError.details.retry_after);
    return errorBody(appError.code, appError.message, requestId, appError.details);
  });
}

// The one JSON shape every error answer has, as a zod schema (validation, types and OpenAPI).
import { z } from "zod";
import { ERROR_CODES } from "../errors.ts";

export const ErrorResponse = z
  .object({
    success: z.literal(false),
    code: z.enum(ERROR_CODES).describe("Stable machine-readable error code"),
    error: z.string().describe("What went wrong, for people"),
    request_id: z.string(),
    field: z.string().optional().describe("For invalid_request: the offending field"),
    retry_after: z.number().int().optional().describe("For rate_limited: seconds to wait (also the Retry-After header)"),
    status: z.string().optional().describe("For run_finished: the run's final status"),
  })
  .meta({
    id: "Error",
    examples: [{ success: false, code: "unauthorized", error: "Authentication required", request_id: "3f1c2a9e-5d4b-4c1e-9a7f-2b8d6e0c1a34" }],
  });

export type ErrorBody = z.infer<typeof ErrorResponse>;

/** OpenAPI response entries for the errors a route can answer with. */
export function errorResponses<const S extends readonly number[]>(...statuses: S) {
  return Object.fromEntries(statuses.map((s) => [s, ErrorResponse])) as { [K in S[number]]: typeof ErrorResponse };
}

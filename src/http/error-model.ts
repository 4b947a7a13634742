// The one JSON shape every error answer has, as a zod schema (validation, types and OpenAPI).
import { z } from "zod";
import { ERROR_CODES, type ErrorCode } from "../errors.ts";

export const EXAMPLE_REQUEST_ID = "3f1c2a9e-5d4b-4c1e-9a7f-2b8d6e0c1a34";

interface CodeExample {
  error: string;
  details?: { field?: string; retry_after?: number; status?: string };
  /** An outcome of a run that started: answered as RunFailure (with the agent's output so far), never as a bare Error. */
  run?: true;
}

/** One illustrative answer per error code: every documented error status shows examples built from this table. */
export const ERROR_EXAMPLES: Record<ErrorCode, CodeExample> = {
  invalid_request: { error: 'Invalid field "prompt": must not be empty', details: { field: "prompt" } },
  unauthorized: { error: "Authentication required: send Authorization: Bearer <key>, Authorization: Api-Key <key> or X-API-Key: <key>" },
  repository_not_allowed: {
    error: "repository https://git.example.com/your-org/your-repo.git is not allowed on this server (ALLOWED_REPO_PREFIXES: https://github.com/your-org/)",
  },
  permission_denied: {
    run: true,
    error: "opencode's permissions refused every tool call the agent made (1; first: bash): The user rejected permission to use this specific tool call.",
  },
  not_found: { error: "No run 0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c" },
  timeout: { run: true, error: "Execution timeout: the run exceeded MAX_EXECUTION_TIME (5m0s)" },
  idle_timeout: { run: true, error: "Idle timeout: no activity from the agent for IDLE_TIMEOUT (2m0s)" },
  cancelled: { run: true, error: "The run was cancelled" },
  run_finished: { error: "The run already ended (succeeded); there is nothing to cancel", details: { status: "succeeded" } },
  payload_too_large: { error: "Request too large: the body exceeds MAX_REQUEST_SIZE (10485760 bytes)" },
  unsupported_media_type: { error: 'Unsupported Content-Type "multipart/form-data": send text/plain (the prompt) or application/json' },
  idempotency_conflict: { error: "This Idempotency-Key was already used for a different request" },
  rate_limited: { error: "Too many runs: 4 running and 100 queued (MAX_QUEUED_RUNS); retry later", details: { retry_after: 30 } },
  client_closed: { run: true, error: "The client closed the connection" },
  agent_failed: { run: true, error: "opencode failed: ProviderModelNotFoundError: Model not found: nosuch/model" },
  internal: { error: "Internal server error" },
  clone_failed: { run: true, error: "Failed to clone repository https://github.com/your-org/your-repo.git: repository not found" },
  push_failed: { run: true, error: 'Push to "opencode/0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c" failed: the remote rejected it' },
  shutting_down: { error: "The server is shutting down and accepts no new runs" },
  store_unavailable: { error: "The run store cannot be written (No space left on device): no new runs until it can" },
  interrupted: { run: true, error: "The server stopped (crash, kill or restart) before the run finished" },
  budget_exceeded: { run: true, error: "Budget exceeded: the run's cost reached $0.0512, over max_cost_usd ($0.05); it was stopped after step 7" },
  run_not_finished: { error: "Run 0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c is still running: continue it once it has ended", details: { status: "running" } },
  session_gone: { error: "Run 0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c has no opencode session to continue: it ended before its agent started" },
  pull_request_failed: {
    run: true,
    error: 'The branch was pushed, but the pull request could not be opened: github (422): Validation Failed: No commits between main and opencode/0b6f3c1e',
  },
  callback_not_allowed: { error: "callback_url https://hooks.example.org/ci is not allowed on this server (WEBHOOK_ALLOWED_PREFIXES: https://hooks.example.com/)" },
  key_expired: { error: 'The API key "ci" has expired: ask for a new one' },
  forbidden: { error: 'The API key "ci" lacks the scope runs:create' },
};

/** The example Error answer for `code`: the table's message, or `own` where a route words it differently. */
export function errorExample(code: ErrorCode, own?: Omit<CodeExample, "run">) {
  const { error, details } = own ?? ERROR_EXAMPLES[code];
  return { success: false as const, code, error, request_id: EXAMPLE_REQUEST_ID, ...details };
}

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
    examples: [errorExample("unauthorized")],
  });

export type ErrorBody = z.infer<typeof ErrorResponse>;

/** OpenAPI response entries for the errors a route can answer with. */
export function errorResponses<const S extends readonly number[]>(...statuses: S) {
  return Object.fromEntries(statuses.map((s) => [s, ErrorResponse])) as { [K in S[number]]: typeof ErrorResponse };
}

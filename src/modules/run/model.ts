// POST /run's request and answers, as zod schemas: validation, TypeScript types and OpenAPI all come from here.
import { z } from "zod";
import type { ErrorCode } from "../../errors.ts";
import { ERROR_EXAMPLES, errorExample } from "../../http/error-model.ts";
import { RunFailure as DomainRunFailure, RunSuccess as DomainRunSuccess } from "../../runs/model.ts";
import type { OperationDoc } from "../../http/docs.ts";
import type { NamedExample } from "../../http/response-examples.ts";
import { openApiSchema } from "../../http/openapi-schema.ts";
import { branchNameProblem } from "../../git/ref-name.ts";
import { checkRepositoryUrl, RepositoryUrlError } from "../../git/url-policy.ts";
import { AGENT_PATTERN, MODEL_MAX_LENGTH, MODEL_PATTERN } from "../../opencode/names.ts";

const branchName = (what: string) =>
  z.string().superRefine((name, ctx) => {
    const problem = branchNameProblem(name);
    if (problem) ctx.addIssue({ code: "custom", message: `${what} ${problem}` });
  });

const repositoryUrl = z
  .string()
  .max(2048)
  // Checked once, here: what the run core gets is the parsed URL (the allow-list is the service's).
  .transform((raw, ctx) => {
    try {
      return checkRepositoryUrl(raw);
    } catch (err) {
      if (!(err instanceof RepositoryUrlError)) throw err;
      ctx.addIssue({ code: "custom", message: err.message });
      return z.NEVER;
    }
  });

/** The first is what Swagger's "Try it out" sends: it names no model or repository, so it runs on any server. */
const REQUEST_EXAMPLES = [
  { summary: "A prompt (runs on any server, with its default model)", value: { prompt: "Write a function to calculate fibonacci numbers" } },
  {
    summary: "Work in a repository (illustrative: put one under this server's ALLOWED_REPO_PREFIXES)",
    value: { prompt: "Fix the failing test in main.go", repository: "https://git.example.com/your-org/your-repo.git", branch: "fix-tests" },
  },
] satisfies NamedExample[];

const capFields = {
  max_cost_usd: z.number().positive().finite().nullish().describe("Stop the run once its cost (USD, as opencode computes it) goes over this; at most MAX_RUN_COST_USD (the default)"),
  max_tokens: z.number().int().min(1).nullish().describe("Stop the run once its input + output tokens go over this; at most MAX_RUN_TOKENS (the default)"),
  max_steps: z.number().int().min(1).nullish().describe("At most this many model turns; at most MAX_RUN_STEPS (the default)"),
};

const agentFields = {
  prompt: z
    .string()
    .refine((s) => s.trim() !== "", "must not be empty")
    .describe("What the agent should do"),
  model: z
    .string()
    .max(MODEL_MAX_LENGTH)
    .regex(MODEL_PATTERN, 'must look like "provider/model"')
    .nullish()
    .describe("provider/model; defaults to OPENCODE_MODEL, then to opencode's own default (a follow-up: the earlier run's)"),
  agent: z
    .string()
    .regex(AGENT_PATTERN, "must be an agent name (letters, digits, . _ -)")
    .nullish()
    .describe("opencode agent, e.g. build or plan; an unknown name falls back to the default agent (a follow-up: the earlier run's)"),
};

const INHERITED = ["repository", "branch", "base"] as const;

const pullRequestField = z
  .union([
    z.boolean(),
    z
      .object({
        title: z.string().trim().min(1).max(256).optional().describe("Default: the prompt's first line"),
        body: z.string().max(50_000).optional().describe("Default: what the agent did (its final text, clipped); the run's details are always appended"),
        draft: z.boolean().optional().describe("Open it as a draft (GitLab: a Draft: title, Gitea: a WIP: title)"),
        base: branchName("pull_request.base").optional().describe("The branch to merge into; default the branch the run started from (a new branch's base)"),
      })
      .strict(),
  ])
  .nullish()
  .describe("After the push, open a pull (merge) request from the run's branch — or update the one already open from it and comment on it. Repository runs only; needs push. A follow-up inherits its run's; false turns it off");

const callbackFields = {
  callback_url: z
    .string()
    .min(1)
    .max(2048)
    .nullish()
    .describe("Called back (a signed POST) with the run's final state — and its status changes if WEBHOOK_EVENTS says so; must lie under WEBHOOK_ALLOWED_PREFIXES"),
};

/** A pull request needs a pushed branch. */
function pullRequestNeedsPush(body: { push?: boolean | null; pull_request?: unknown }, ctx: z.RefinementCtx): void {
  if (body.push === false && body.pull_request) ctx.addIssue({ code: "custom", path: ["pull_request"], message: "needs push: a pull request is opened from the pushed branch (drop push: false)" });
}

export const RunRequest = z
  .object({
    ...agentFields,
    repository: repositoryUrl
      .nullish()
      .describe("https:// URL of a git repository under ALLOWED_REPO_PREFIXES: the agent works in a fresh clone, and its changes are committed and pushed"),
    branch: branchName("branch")
      .nullish()
      .describe("Branch to work on: checked out if it exists, else created from base; default opencode/<run id>"),
    base: branchName("base")
      .nullish()
      .describe("Branch a new branch starts from; default the repository's default branch"),
    push: z.boolean().nullish().describe("false: commit but do not push (the diff comes back in patch); default true (a follow-up: the earlier run's)"),
    continue: z
      .string()
      .min(1)
      .max(100)
      .nullish()
      .describe("A finished run's id: this run continues its opencode session (and its branch or commit) with the new prompt — the same as POST /runs/{id}/messages"),
    pull_request: pullRequestField,
    ...callbackFields,
    ...capFields,
  })
  .strict()
  .superRefine((body, ctx) => {
    pullRequestNeedsPush(body, ctx);
    if (body.continue) {
      for (const key of INHERITED) {
        if (body[key] !== undefined && body[key] !== null) ctx.addIssue({ code: "custom", path: [key], message: "is inherited from the run being continued" });
      }
      return;
    }
    if (body.repository) return;
    for (const key of ["branch", "base", "push", "pull_request"] as const) {
      if (body[key] !== undefined && body[key] !== null) ctx.addIssue({ code: "custom", path: [key], message: "requires repository" });
    }
  })
  .meta({ id: "RunRequest", examples: REQUEST_EXAMPLES.map((e) => e.value) });

/** POST /runs/{id}/messages: what a follow-up may say; repository, branch and base come from the run it continues. */
export const FollowUpRequest = z
  .object({
    ...agentFields,
    push: z.boolean().nullish().describe("false: commit but do not push; default: as the earlier run"),
    pull_request: pullRequestField,
    ...callbackFields,
    ...capFields,
  })
  .strict()
  .superRefine(pullRequestNeedsPush)
  .meta({ id: "FollowUpRequest", examples: [{ prompt: "Now fix the failing test too" }] });

export type FollowUpBody = z.infer<typeof FollowUpRequest>;

export type RunRequestBody = z.infer<typeof RunRequest>;

const exampleUsage = { input_tokens: 1200, output_tokens: 240, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0.0072 };

export const RunSuccess = DomainRunSuccess.meta({
    id: "RunSuccess",
    examples: [
      {
        success: true,
        output: "Created fib.py with a fibonacci(n) function.",
        error: null,
        execution_time: "2.5s",
        queue_time: "0s",
        request_id: "3f1c2a9e-5d4b-4c1e-9a7f-2b8d6e0c1a34",
        run_id: "0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c",
        session_id: "ses_df3d1d38affeaZRkWWC2feC1lb",
        model: "anthropic/claude-sonnet-4-5",
        usage: exampleUsage,
        tools: [{ tool: "write", status: "completed", title: "fib.py", error: null, denied: false }],
        egress: [{ host: "registry.npmjs.org", port: 443, allowed: true, count: 3, reason: "allowed" }],
        output_truncated: false,
        exit_code: 0,
      },
    ],
  });

const EXAMPLE_REPO = "https://github.com/your-org/your-repo.git";
const EXAMPLE_RUN_ID = "0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c";

type FailureExample = z.infer<typeof DomainRunFailure>;

/** What differs from the common example fields, by run outcome. */
const FAILURE_FIELDS: Partial<Record<ErrorCode, Partial<FailureExample>>> = {
  idle_timeout: { execution_time: "2m3.5s" },
  cancelled: { execution_time: "12.4s" },
  shutting_down: { error: "The server shut down before the run finished (SHUTDOWN_TIMEOUT)", execution_time: "1m30s" },
  client_closed: { execution_time: "3.1s" },
  agent_failed: { output: "", execution_time: "1.2s", exit_code: 1 },
  interrupted: { output: "", execution_time: "41s", session_id: null, usage: { ...exampleUsage, input_tokens: 0, output_tokens: 0, cost: 0 } },
  clone_failed: { output: "", execution_time: "0.8s", session_id: null, usage: { ...exampleUsage, input_tokens: 0, output_tokens: 0, cost: 0 }, repository: EXAMPLE_REPO },
  push_failed: {
    output: "Fixed the failing test.",
    execution_time: "48.2s",
    exit_code: 0,
    repository: EXAMPLE_REPO,
    branch: `opencode/${EXAMPLE_RUN_ID}`,
    commit: "9fceb02d0ae598e95dc970b74767f19372d61af8",
    base_branch: "main",
    base_commit: "e83c5163316f89bfbde7d9ab23ca2e25604af290",
    changed: true,
    files_changed: ["main_test.go"],
    pushed: false,
    undelivered_patch: `/var/lib/opencode-server/undelivered/${EXAMPLE_RUN_ID}.patch`,
  },
};

function failureExample(code: ErrorCode): FailureExample {
  return {
    ...errorExample(code),
    output: "Looking at the repository…",
    execution_time: "5m0.012s",
    queue_time: "0s",
    run_id: EXAMPLE_RUN_ID,
    session_id: "ses_df3d1d38affeaZRkWWC2feC1lb",
    model: "anthropic/claude-sonnet-4-5",
    usage: exampleUsage,
    tools: [],
    egress: [],
    output_truncated: false,
    exit_code: null,
    ...FAILURE_FIELDS[code],
  };
}

/** RunFailure's example for a run outcome (ERROR_EXAMPLES marks them); null for codes answered before a run starts. */
export function runFailureExample(code: ErrorCode): FailureExample | null {
  return ERROR_EXAMPLES[code].run ? failureExample(code) : null;
}

export const RunFailure = DomainRunFailure.meta({
  id: "RunFailure",
  description: "A run that started but did not succeed: the error plus whatever the agent produced",
  examples: [failureExample("timeout")],
});

export type RunSuccessBody = z.infer<typeof RunSuccess>;
export type RunFailureBody = z.infer<typeof RunFailure>;

/** What the generator cannot derive: the body's media types (our own size-limited parser reads it) and per-status wording. */
export function runOperationDoc(): OperationDoc {
  return {
    requestBody: runRequestBody(),
    examples: {
      // The one status where a code comes in both shapes; every other status's examples follow from ERROR_EXAMPLES.
      503: [
        { summary: "shutting_down (Error)", value: errorExample("shutting_down") },
        { summary: "shutting_down (RunFailure)", value: failureExample("shutting_down") },
        { summary: "interrupted (RunFailure)", value: failureExample("interrupted") },
      ],
    },
    responses: {
      200: "The agent finished; its output, usage and tool calls",
      400: "invalid_request: empty body, blank prompt, invalid JSON or UTF-8, an invalid field (named in `field`: an unknown field, a model opencode cannot use), or an unknown base branch",
      401: "unauthorized: API_KEY is set and no valid key was sent",
      402: "budget_exceeded: a step took the run (or its thread) over max_cost_usd or max_tokens, or the agent wanted a step beyond max_steps; it was stopped like a timeout (`budget` says which cap, and what was spent)",
      404: "not_found: `continue` names no run",
      403: "repository_not_allowed: the repository is not under ALLOWED_REPO_PREFIXES (Error); callback_not_allowed: callback_url is not under WEBHOOK_ALLOWED_PREFIXES (Error); permission_denied: opencode's permissions refused every tool call the agent made (RunFailure, each tool's `error` says why); or forbidden: the key lacks runs:create (Error)",
      408: "timeout: MAX_EXECUTION_TIME passed (counted from arrival, queue included) or idle_timeout: no agent activity for IDLE_TIMEOUT; the agent was killed; the output so far is included",
      409: "cancelled: someone cancelled the run (DELETE /runs/{id}) (RunFailure); or run_not_finished: the run to continue is still queued or running (Error)",
      410: "session_gone: the run to continue has no kept opencode session (it ended before its agent started, or its session could not be saved)",
      413: "payload_too_large: the body exceeds MAX_REQUEST_SIZE",
      415: "unsupported_media_type: send text/plain or application/json",
      422: "idempotency_conflict: the Idempotency-Key was used for a different request",
      429: "rate_limited: MAX_QUEUED_RUNS runs are already waiting (Retry-After says when to retry)",
      500: "agent_failed: opencode failed and `error` says why (RunFailure); or internal: a server fault (Error)",
      502: "clone_failed: the repository could not be read (git's reason); push_failed: the work could not be pushed (it was saved: undelivered_patch); pull_request_failed: the branch was pushed, the forge refused or failed the pull request",
      503:
        "shutting_down: the server is draining (Error), or stopped this run while shutting down (RunFailure); " +
        "interrupted: the server restarted during the run, answered to a retry with its Idempotency-Key (RunFailure)",
    },
  };
}

/** POST /runs/{id}/messages' body: a prompt, as text or as a FollowUpRequest. */
export function followUpRequestBody() {
  return {
    required: true,
    description: "The follow-up prompt as plain text, or a JSON FollowUpRequest",
    content: {
      "application/json": { schema: openApiSchema(FollowUpRequest), examples: { prompt: { summary: "A follow-up prompt", value: { prompt: "Now fix the failing test too" } } } },
      "text/plain": { schema: { type: "string", minLength: 1, description: "The prompt" }, example: "Now fix the failing test too" },
    },
  };
}

function runRequestBody() {
  return {
    required: true,
    description: "The prompt as plain text, or a JSON RunRequest",
    content: {
      "application/json": {
        schema: openApiSchema(RunRequest),
        examples: Object.fromEntries(REQUEST_EXAMPLES.map((e, i) => [i === 0 ? "prompt" : "repository", e])),
      },
      "text/plain": {
        schema: { type: "string", minLength: 1, description: "The prompt" },
        example: "Write a function to calculate fibonacci numbers",
      },
    },
  };
}

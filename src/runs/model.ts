// A run's shapes as zod schemas — statuses, outcomes, events, records, queued requests: each defined once, its type z.infer'd.
import { z } from "zod";
import { ERROR_CODES } from "../errors.ts";
import { WebhookSubscription } from "../webhooks/model.ts";

export const RUN_STATUSES = ["queued", "running", "succeeded", "failed", "timed_out", "cancelled", "interrupted"] as const;
export const RunStatus = z.enum(RUN_STATUSES).meta({ id: "RunStatus" });
export type RunStatus = z.infer<typeof RunStatus>;
export const FINAL_STATUSES: readonly RunStatus[] = ["succeeded", "failed", "timed_out", "cancelled", "interrupted"];

export const ErrorCodeSchema = z.enum(ERROR_CODES);

export const Usage = z
  .object({
    input_tokens: z.number(),
    output_tokens: z.number(),
    reasoning_tokens: z.number(),
    cache_read_tokens: z.number(),
    cache_write_tokens: z.number(),
    cost: z.number().describe("Cost in USD as opencode computed it"),
  })
  .meta({ id: "Usage", description: "Summed over opencode's step-finish events" });
export type Usage = z.infer<typeof Usage>;

export const ToolCall = z
  .object({
    tool: z.string(),
    status: z.string().describe("completed or error"),
    title: z.string().nullable(),
    error: z.string().nullable().describe("For a failed call: opencode's reason"),
    denied: z.boolean().describe("True when opencode's permissions refused the call (a refused `ask`, or a `deny` rule)"),
  })
  .meta({ id: "ToolCall" });
export type ToolCall = z.infer<typeof ToolCall>;

export const EgressSummary = z.object({
  host: z.string(),
  port: z.number().int(),
  allowed: z.boolean(),
  count: z.number().int().describe("Attempts with this outcome"),
  reason: z.string().describe("Why it was allowed or refused (the first attempt's)"),
});
export type EgressSummary = z.infer<typeof EgressSummary>;

export const BUDGET_CAPS = ["max_cost_usd", "max_tokens", "max_steps"] as const;
export type BudgetCap = (typeof BUDGET_CAPS)[number];

/** Caps on what a run (or a thread of runs) may spend; null: no cap. */
export const Limits = z
  .object({
    max_cost_usd: z.number().nullable().describe("USD, as opencode computes cost"),
    max_tokens: z.number().int().nullable().describe("Input + output tokens"),
    max_steps: z.number().int().nullable().describe("Model turns (opencode steps)"),
  })
  .meta({ id: "Limits" });
export type Limits = z.infer<typeof Limits>;
export const NO_LIMITS: Limits = { max_cost_usd: null, max_tokens: null, max_steps: null };

export const Spent = z.object({ cost_usd: z.number(), tokens: z.number().int(), steps: z.number().int() }).meta({ id: "Spent" });
export type Spent = z.infer<typeof Spent>;

export const BudgetReport = z
  .object({
    limits: Limits.describe("This run's caps: the request's, else the server's MAX_RUN_* ceilings"),
    used: Spent.describe("What this run spent"),
    thread: z.object({ limits: Limits, used: Spent.describe("The whole thread, this run included") }).nullable().describe("The thread's caps (set by its first run) and spend; null when it has none"),
    exceeded: z
      .object({ cap: z.enum(BUDGET_CAPS), scope: z.enum(["run", "thread"]), limit: z.number(), used: z.number() })
      .nullable()
      .describe("The cap that stopped the run (code budget_exceeded); null when none did"),
  })
  .meta({ id: "Budget", description: "Present when a cap applied to the run" });
export type BudgetReport = z.infer<typeof BudgetReport>;

/** What a repository run asked of its pull request (`pull_request: true` is all defaults). */
export const PullRequestOptions = z.object({
  title: z.string().nullable(),
  body: z.string().nullable(),
  draft: z.boolean(),
  base: z.string().nullable(),
});
export type PullRequestOptions = z.infer<typeof PullRequestOptions>;

export const PullRequestResult = z
  .object({
    url: z.string().describe("The pull (merge) request's page"),
    number: z.number().int().describe("Its number (GitLab: the merge request's iid)"),
    action: z.enum(["created", "updated"]).describe("created: opened by this run; updated: one was already open from the branch — its body was updated and a comment added"),
  })
  .meta({ id: "PullRequest" });
export type PullRequestResult = z.infer<typeof PullRequestResult>;

/** The fields every outcome has (the seed's, and ours); repository runs add the git fields. */
const outcomeFields = {
  output: z.string().describe("The agent's text, as plain `opencode run` prints it (partial on failure)"),
  execution_time: z.string().describe('How long the run took from its start (workspace, clone, agent, push) to its end, not counting the queue; Go-style duration, e.g. "2.5s"'),
  queue_time: z.string().describe('How long the run waited in the queue before it started, e.g. "0s"'),
  request_id: z.string(),
  run_id: z.string(),
  session_id: z.string().nullable().describe("opencode session id"),
  model: z.string().nullable(),
  usage: Usage,
  tools: z.array(ToolCall).describe("Tool calls the agent made, in order"),
  egress: z.array(EgressSummary).describe("What the agent tried to reach through the egress proxy (AGENT_NETWORK=proxy), per host, port and outcome"),
  output_truncated: z.boolean().describe("True when output exceeded MAX_OUTPUT_SIZE and was cut"),
  exit_code: z.number().int().nullable().describe("opencode's exit code; null when it was killed"),
  repository: z.string().optional().describe("The repository (repository runs only, as are the fields below)"),
  branch: z.string().optional().describe("The branch holding the work (a fallback branch when the push was rejected)"),
  commit: z.string().nullable().optional().describe("The branch's commit after the run (pushed, or local when the push failed)"),
  base_branch: z.string().nullable().optional().describe("The branch the work started from"),
  base_commit: z.string().nullable().optional().describe("The commit the work started from"),
  changed: z.boolean().optional().describe("Whether the agent changed anything (files or commits)"),
  files_changed: z.array(z.string()).optional().describe("Paths changed between base_commit and commit"),
  pushed: z.boolean().optional(),
  push_note: z.string().nullable().optional().describe("Why the push went elsewhere, did not happen, or failed"),
  patch: z.string().optional().describe("With push: false, the change as a diff"),
  patch_truncated: z.boolean().optional(),
  undelivered_patch: z.string().optional().describe("When the push failed: where the commits were saved on the server (git am)"),
  pull_request: PullRequestResult.optional().describe("pull_request runs: the pull request the branch is in"),
  pull_request_note: z.string().optional().describe("pull_request runs: why no pull request was opened or updated (nothing pushed, the run did not succeed, the work is on the base branch)"),
  budget: BudgetReport.optional(),
  owner: z.string().optional().describe("The name of the API key whose run this is (a follow-up: its thread's); absent on a server without keys"),
  parent_run_id: z.string().optional().describe("Follow-up runs only: the run this one continued"),
  thread_id: z.string().optional().describe("Follow-up runs only: the first run of the conversation"),
};

export const RunSuccess = z.object({ success: z.literal(true), error: z.null(), ...outcomeFields });
export const RunFailure = z.object({
  success: z.literal(false),
  code: ErrorCodeSchema.describe("Stable machine-readable error code"),
  error: z.string().describe("What went wrong, for people"),
  field: z.string().optional().describe("For invalid_request: the offending field"),
  ...outcomeFields,
});
/** What a finished run answers with: the JSON POST /run returns and GET /runs/{id} carries as `result`. */
export const RunOutcome = z.union([RunSuccess, RunFailure]);
export type RunSuccess = z.infer<typeof RunSuccess>;
export type RunFailure = z.infer<typeof RunFailure>;
export type RunOutcome = z.infer<typeof RunOutcome>;

const GitEvent = z.union([
  z.object({ type: z.literal("git"), action: z.literal("cloned"), branch: z.string(), base_branch: z.string().nullable(), base_commit: z.string().nullable() }),
  z.object({ type: z.literal("git"), action: z.enum(["committed", "pushed"]), branch: z.string(), commit: z.string().nullable(), changed: z.boolean(), pushed: z.boolean() }),
  z.object({ type: z.literal("git"), action: z.literal("pull_request"), branch: z.string(), base: z.string(), url: z.string(), number: z.number().int(), result: z.enum(["created", "updated"]) }),
]);

/** What a run reports as it goes; the event log numbers, stores and publishes them. */
export const RunEventBody = z.union([
  z.object({ type: z.literal("status"), status: RunStatus }),
  z.object({ type: z.literal("text"), text: z.string() }),
  z.object({
    type: z.literal("tool"),
    ...ToolCall.shape,
    input: z.unknown(),
    output: z.string().nullable(),
    duration_ms: z.number().nullable().optional().describe("How long the call took, from opencode's own clock (absent on events stored before it was recorded)"),
  }),
  z.object({
    type: z.literal("usage"),
    step: Usage,
    total: Usage,
    steps: z.number().int().describe("Model turns so far in this run"),
    reason: z.string().nullable().describe('opencode\'s reason the turn ended: "stop" (done) or "tool-calls" (it goes on)'),
  }),
  GitEvent,
  z.object({ type: z.literal("egress"), host: z.string(), port: z.number().int(), allowed: z.boolean(), reason: z.string() }),
  z.object({ type: z.literal("result"), status: RunStatus, answer: RunOutcome }),
]);
export type RunEventBody = z.infer<typeof RunEventBody>;
export type RunEvent = RunEventBody & { run_id: string; seq: number; time: string };
export const EVENT_TYPES = ["status", "text", "tool", "usage", "git", "egress", "result"] as const;

/** A run as the store keeps it: what was asked (never the prompt), where it is, how it ended. */
export const RunRecord = z.object({
  id: z.string(),
  requestId: z.string(),
  status: RunStatus,
  code: ErrorCodeSchema.nullable(),
  error: z.string().nullable(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  /** The Idempotency-Key as stored: scoped by the key that sent it ("<key name> <header>"), so two keys never share one. */
  idempotencyKey: z.string().nullable(),
  fingerprint: z.string().nullable(),
  promptChars: z.number().int(),
  /** The prompt's first line, shortened (lists show it); null on runs stored before titles were. */
  title: z.string().nullable(),
  model: z.string().nullable(),
  agent: z.string().nullable(),
  repository: z.string().nullable(),
  branch: z.string().nullable(),
  base: z.string().nullable(),
  push: z.boolean().nullable(),
  /** The replica (REPLICA_ID) that executes or executed it; null while it waits. */
  replica: z.string().nullable(),
  /** The run this one continues (a follow-up), and the first run of its conversation (its own id for a first run). */
  parentId: z.string().nullable(),
  threadId: z.string(),
  /** This run's caps, and its thread's (the first run's own request's). */
  limits: Limits,
  threadLimits: Limits,
  /** A repository run's pull request (follow-ups inherit it); null: none asked for. */
  pullRequest: PullRequestOptions.nullable(),
  /** Who is called back about this run, and on which events. */
  webhooks: z.array(WebhookSubscription),
  /** The name of the API key whose run it is (a follow-up: its thread's); null without keys, and on runs from before owners. */
  owner: z.string().nullable(),
  outcome: RunOutcome.nullable(),
});
export type RunRecord = z.infer<typeof RunRecord>;

/** What a queued run needs to start, kept only while it waits (the prompt is deleted when it starts). */
export const QueuedRequest = z.object({
  prompt: z.string(),
  model: z.string().nullable(),
  agent: z.string().nullable(),
  repository: z
    .object({ url: z.string(), branch: z.string().nullable(), base: z.string().nullable(), push: z.boolean(), pullRequest: PullRequestOptions.nullable().default(null) })
    .nullable(),
});
export type QueuedRequest = z.infer<typeof QueuedRequest>;

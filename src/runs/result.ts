// The outcome of one run, independent of how it is presented (JSON answer, event, log line).
import type { ErrorCode } from "../errors.ts";
import type { EgressSummary, ToolCall, Usage } from "../opencode/types.ts";
import type { Continuation } from "./continuation.ts";
import type { BudgetReport } from "./model.ts";
import type { GitOutcome } from "./repository.ts";

export interface RunResult {
  runId: string;
  requestId: string;
  ok: boolean;
  /** Why it failed; null on success. */
  code: ErrorCode | null;
  error: string | null;
  /** The request field at fault, for invalid_request. */
  errorField: string | null;
  output: string;
  outputTruncated: boolean;
  /** From the run's start (workspace, clone, agent, delivery) to its end; the queue wait is queueMs. */
  durationMs: number;
  /** How long the run waited in the queue before it started. */
  queueMs: number;
  usage: Usage;
  sessionId: string | null;
  tools: ToolCall[];
  exitCode: number | null;
  model: string | null;
  /** What happened to the repository, for repository runs. */
  git: GitOutcome | null;
  /** Agent processes still alive after cleanup (should always be empty). */
  survivors: number[];
  /** What the agent tried to reach through the egress proxy. */
  egress: EgressSummary[];
  /** For follow-ups (kept by the store, never answered): the session and unpushed commits, or why they could not be kept. */
  continuation?: Continuation | { problem: string } | null;
  /** The caps that applied and what was spent against them (null: no cap). */
  budget?: BudgetReport | null;
  /** A follow-up: the run it continued and its conversation's first run. */
  parentRunId?: string | null;
  threadId?: string;
  /** The run's key name (null: none), answered as `owner`. */
  owner?: string | null;
}

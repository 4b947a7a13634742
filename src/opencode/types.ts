// What any agent runner takes and gives back; the real one drives the opencode CLI, tests inject fakes.

import type { SessionFiles } from "../runs/continuation.ts";
import type { EgressSummary, ToolCall, Usage } from "../runs/model.ts";

export type { EgressSummary, ToolCall, Usage };

/** Progress reported while the agent works. */
export type AgentEvent =
  | { type: "step"; session_id: string | null }
  | { type: "text"; text: string }
  | { type: "tool"; tool: string; status: string; title: string | null; error: string | null; denied: boolean; input: unknown; output: string | null; duration_ms: number | null }
  /** One model turn ended: `steps` counts them, `reason` is opencode's ("stop" when the agent is done, "tool-calls" when it goes on). */
  | { type: "usage"; step: Usage; total: Usage; steps: number; reason: string | null }
  | { type: "error"; name: string; message: string }
  | { type: "egress"; host: string; port: number; allowed: boolean; reason: string };

export interface AgentInput {
  runId: string;
  prompt: string;
  model: string | null;
  agent: string | null;
  /** The only directory the agent's sandbox may write: it holds cwd, tmpDir and home. */
  root: string;
  /** Directory the agent works in. */
  cwd: string;
  /** Private temporary directory for this run. */
  tmpDir: string;
  /** The run's private HOME, where its fresh opencode files are made. */
  home: string;
  /** Host paths this run's agent may read beyond the usual (the mirror objects its workspace borrows). */
  readOnly?: readonly string[];
  /** A follow-up: the earlier run's session, put into the fresh home and continued (`--session`). */
  resume?: SessionFiles | null;
  signal: AbortSignal;
  onEvent: (event: AgentEvent) => void;
  /**
   * Resolves true once the run is in the store: the agent gets its prompt only then (its start is written while
   * the agent boots). False: it could not be stored, and the run is being stopped. Absent: at once.
   */
  admitted?: Promise<boolean>;
  /** The workspace's home was furnished ahead with this run's files, for this placeholder (see AgentRunner.furnish). */
  furnished?: FurnishedHome | null;
}

/** What a home furnished ahead holds: the run's files written for the key-proxy token handed out with it. */
export interface FurnishedHome {
  token: string;
  placeholder: string;
}

export interface AgentOutcome {
  /** Exit code, or null when the process died by a signal. */
  exitCode: number | null;
  /** True when the run was stopped through its AbortSignal. */
  aborted: boolean;
  output: string;
  outputTruncated: boolean;
  usage: Usage;
  sessionId: string | null;
  tools: ToolCall[];
  /** What went wrong, in words, when the agent failed. */
  error: string | null;
  /** Agent processes still alive after cleanup (should be empty). */
  survivors: number[];
  /** What the agent tried to reach through the egress proxy (AGENT_NETWORK=proxy). */
  egress: EgressSummary[];
  /** The session as the agent left it, for a follow-up; null when there is none (or it could not be read: sessionProblem). */
  session?: SessionFiles | null;
  sessionProblem?: string | null;
}

/** A workspace made before its run (a warm agent's, booted in it): the run works there instead of in a new one. */
export interface ReservedWorkspace {
  /** The workspace root (its directories exist; the run removes it at the end as usual). */
  root: string;
  /** Gives the agent back unused (the run ended before reaching the agent): it is destroyed. Idempotent. */
  release(): Promise<void>;
}

export interface AgentRunner {
  run(input: AgentInput): Promise<AgentOutcome>;
  /** A ready workspace with an agent booted in it for this run, or null (then the run makes its own). */
  reserve?(run: { runId: string; repo: boolean }): ReservedWorkspace | null;
  /** The warm pool's state (WARM_AGENTS), when there is one. */
  warmStats?(): WarmStats;
  /**
   * Makes a run's home ahead of its run (a spare workspace): what every home holds and, where it can, the run's
   * own files for a placeholder handed out with it (then returned, for the run that takes the workspace).
   */
  furnish?(home: string): Promise<FurnishedHome | null>;
}

export interface WarmStats {
  ready: number;
  target: number;
  /** Runs that took a warm agent, and runs that went to `opencode run` while the pool was on. */
  servedWarm: number;
  servedCold: number;
  bootFailures: number;
}

export function emptyUsage(): Usage {
  return { input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0 };
}

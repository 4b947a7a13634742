// What any agent runner takes and gives back; the real one drives the opencode CLI, tests inject fakes.

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost: number;
}

export interface ToolCall {
  tool: string;
  status: string;
  title: string | null;
  /** What went wrong, for a call whose status is "error" (opencode's own words). */
  error: string | null;
  /** True when opencode's permissions refused the call (an `ask` that `opencode run` auto-rejects, or a `deny` rule). */
  denied: boolean;
}

/** Progress reported while the agent works. */
export type AgentEvent =
  | { type: "step"; session_id: string | null }
  | { type: "text"; text: string }
  | { type: "tool"; tool: string; status: string; title: string | null; error: string | null; denied: boolean; input: unknown; output: string | null }
  | { type: "usage"; step: Usage; total: Usage }
  | { type: "error"; name: string; message: string }
  | { type: "egress"; host: string; port: number; allowed: boolean; reason: string };

/** A run's egress attempts through the proxy, counted per host, port and outcome. */
export interface EgressSummary {
  host: string;
  port: number;
  allowed: boolean;
  count: number;
  reason: string;
}

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
  signal: AbortSignal;
  onEvent: (event: AgentEvent) => void;
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
}

export interface AgentRunner {
  run(input: AgentInput): Promise<AgentOutcome>;
}

export function emptyUsage(): Usage {
  return { input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0 };
}

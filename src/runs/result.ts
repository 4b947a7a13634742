// The outcome of one run, independent of how it is presented (JSON answer, event, log line).
import type { ErrorCode } from "../errors.ts";
import type { ToolCall, Usage } from "../opencode/types.ts";

export interface RunResult {
  runId: string;
  requestId: string;
  ok: boolean;
  /** Why it failed; null on success. */
  code: ErrorCode | null;
  error: string | null;
  output: string;
  outputTruncated: boolean;
  durationMs: number;
  usage: Usage;
  sessionId: string | null;
  tools: ToolCall[];
  exitCode: number | null;
  model: string | null;
}

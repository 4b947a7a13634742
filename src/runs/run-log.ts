// The one log line each run ends with: what an operator greps for when a user asks "what happened to my run?".
import { formatDuration } from "../lib/duration.ts";
import type { Logger } from "../lib/logger.ts";
import type { RunRecord, RunStatus } from "./model.ts";
import type { RunResult } from "./result.ts";

export function logRunEnd(logger: Logger, record: RunRecord, result: RunResult, status: RunStatus): void {
  const fields = {
    request_id: record.requestId,
    run_id: record.id,
    ...(record.owner !== null ? { key: record.owner } : {}),
    status,
    code: result.code,
    exit_code: result.exitCode,
    duration_ms: Math.round(result.durationMs),
    waited_ms: Math.round(result.queueMs),
    model: result.model,
    execution_time: formatDuration(result.durationMs),
    output_bytes: Buffer.byteLength(result.output),
    output_truncated: result.outputTruncated,
    error: result.error,
    ...(result.git
      ? { branch: result.git.branch, commit: result.git.commit, changed: result.git.changed, pushed: result.git.pushed, push_note: result.git.pushNote }
      : {}),
  };
  if (result.survivors.length > 0) logger.error("agent processes survived cleanup", { run_id: record.id, pids: result.survivors });
  if (result.ok) logger.info("run finished", fields);
  else logger.warn("run finished", fields);
}

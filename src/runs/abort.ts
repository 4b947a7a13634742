// Why a run was stopped: every stop reason travels as the AbortSignal's reason and becomes the result's code.
import type { ErrorCode } from "../errors.ts";

export type StopCode = Extract<ErrorCode, "timeout" | "idle_timeout" | "cancelled" | "client_closed" | "shutting_down" | "internal" | "budget_exceeded" | "session_gone">;

export class RunStopped extends Error {
  override readonly name = "RunStopped";
  constructor(
    readonly code: StopCode,
    message: string,
  ) {
    super(message);
  }
}

/** The stop reason of an aborted signal, whatever aborted it. */
export function stopReason(signal: AbortSignal): RunStopped {
  const reason: unknown = signal.reason;
  return reason instanceof RunStopped ? reason : new RunStopped("shutting_down", "The run was stopped");
}

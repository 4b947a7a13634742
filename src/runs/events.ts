// The events a run emits as it goes; the synchronous door waits for `result`, later doors stream them.
import type { AgentEvent } from "../opencode/types.ts";
import type { RunResult } from "./result.ts";

export type RunStatus = "running" | "succeeded" | "failed" | "timed_out" | "cancelled" | "interrupted";

export type GitEvent =
  | { type: "git"; action: "cloned"; branch: string; base_branch: string | null; base_commit: string | null }
  | { type: "git"; action: "committed" | "pushed"; branch: string; commit: string | null; changed: boolean; pushed: boolean };

export type RunEventBody =
  | { type: "status"; status: RunStatus }
  | AgentEvent
  | GitEvent
  | { type: "result"; result: RunResult };

export type RunEvent = RunEventBody & { run_id: string; seq: number; time: string };

export type RunEventSink = (event: RunEvent) => void;

// The events a run emits as it goes: persisted, replayed and streamed (SSE) in this shape.
import type { AgentEvent } from "../opencode/types.ts";
import type { FailureAnswer, SuccessAnswer } from "./answer.ts";

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled" | "interrupted";

export type GitEvent =
  | { type: "git"; action: "cloned"; branch: string; base_branch: string | null; base_commit: string | null }
  | { type: "git"; action: "committed" | "pushed"; branch: string; commit: string | null; changed: boolean; pushed: boolean };

export type RunEventBody =
  | { type: "status"; status: RunStatus }
  | AgentEvent
  | GitEvent
  | { type: "result"; status: RunStatus; http_status: number; answer: SuccessAnswer | FailureAnswer };

export type RunEvent = RunEventBody & { run_id: string; seq: number; time: string };

// The API's JSON shapes as the dashboard reads them, and the checks that let unknown JSON become them.

export const RUN_STATUSES = ["queued", "running", "succeeded", "failed", "timed_out", "cancelled", "interrupted"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

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
  error: string | null;
  denied: boolean;
}

export interface Outcome {
  success: boolean;
  code?: string;
  error: string | null;
  output: string;
  execution_time: string;
  queue_time: string;
  run_id: string;
  session_id: string | null;
  model: string | null;
  usage: Usage;
  tools: ToolCall[];
  output_truncated: boolean;
  exit_code: number | null;
  repository?: string;
  branch?: string;
  commit?: string | null;
  base_branch?: string | null;
  base_commit?: string | null;
  changed?: boolean;
  files_changed?: string[];
  pushed?: boolean;
  push_note?: string | null;
  patch?: string;
  patch_truncated?: boolean;
  pull_request?: { url: string; number: number; action: "created" | "updated" };
  pull_request_note?: string;
  budget?: { exceeded: { cap: string; scope: string; limit: number; used: number } | null };
}

export interface RunSummary {
  id: string;
  status: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  queue_position: number | null;
  prompt_chars: number;
  title?: string | null;
  cost_usd?: number | null;
  model: string | null;
  agent: string | null;
  repository: string | null;
  branch: string | null;
  base: string | null;
  code: string | null;
  error: string | null;
  parent_run_id: string | null;
  thread_id: string;
  /** The API key's name whose run it is; null without keys (absent from servers before owners). */
  owner?: string | null;
}

export interface RunView extends RunSummary {
  children: string[];
  result: Outcome | null;
  diff?: boolean;
  forge_links?: { branch: string | null; commit: string | null } | null;
}

export interface RunsPage {
  runs: RunSummary[];
  next_cursor: string | null;
}

export interface Health {
  version: string;
  auth: "api_key" | "none";
}

export interface Created {
  id: string;
}

interface EventBase {
  run_id: string;
  seq: number;
  time: string;
}

export type GitEvent =
  | { type: "git"; action: "cloned"; branch: string; base_branch: string | null; base_commit: string | null }
  | { type: "git"; action: "committed" | "pushed"; branch: string; commit: string | null; changed: boolean; pushed: boolean }
  | { type: "git"; action: "pull_request"; branch: string; base: string; url: string; number: number; result: "created" | "updated" };

export type ToolEvent = { type: "tool"; input: unknown; output: string | null; duration_ms: number | null } & ToolCall;

export type RunEvent = EventBase &
  (
    | { type: "status"; status: string }
    | { type: "text"; text: string }
    | ToolEvent
    | { type: "usage"; step: Usage; total: Usage; steps: number; reason: string | null }
    | GitEvent
    | { type: "egress"; host: string; port: number; allowed: boolean; reason: string }
    | { type: "result"; status: string; answer: Outcome }
  );

export const isFinal = (status: string) => status !== "queued" && status !== "running";

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

const hasStrings = (x: Record<string, unknown>, keys: string[]) => keys.every((k) => typeof x[k] === "string");

// The fields each event type renders as text: an event without them is skipped rather than trusted.
const EVENT_STRINGS: Record<RunEvent["type"], string[]> = {
  status: ["status"],
  text: ["text"],
  tool: ["tool", "status"],
  usage: [],
  git: ["action", "branch"],
  egress: ["host", "reason"],
  result: ["status"],
};

export function asRunEvent(x: unknown): RunEvent | null {
  if (!isRecord(x) || typeof x.seq !== "number" || typeof x.type !== "string") return null;
  const strings = Object.hasOwn(EVENT_STRINGS, x.type) ? EVENT_STRINGS[x.type as RunEvent["type"]] : null;
  if (!strings || !hasStrings(x, strings)) return null;
  if (x.type === "usage" && !(isRecord(x.total) && typeof x.steps === "number")) return null;
  if (x.type === "result" && !asOutcome(x.answer)) return null;
  return x as unknown as RunEvent;
}

function asOutcome(x: unknown): Outcome | null {
  return isRecord(x) && typeof x.success === "boolean" && typeof x.output === "string" && isRecord(x.usage) ? (x as unknown as Outcome) : null;
}

function asRunSummary(x: unknown): RunSummary | null {
  return isRecord(x) && hasStrings(x, ["id", "status", "created_at"]) ? (x as unknown as RunSummary) : null;
}

export function asRunView(x: unknown): RunView | null {
  if (!asRunSummary(x) || !isRecord(x) || !Array.isArray(x.children)) return null;
  if (x.result !== null && !asOutcome(x.result)) return null;
  return x as unknown as RunView;
}

export function asRunsPage(x: unknown): RunsPage | null {
  if (!isRecord(x) || !Array.isArray(x.runs) || !x.runs.every((r) => asRunSummary(r))) return null;
  return x as unknown as RunsPage;
}

export function asHealth(x: unknown): Health | null {
  return isRecord(x) && typeof x.version === "string" && (x.auth === "api_key" || x.auth === "none") ? (x as unknown as Health) : null;
}

export function asCreated(x: unknown): Created | null {
  return isRecord(x) && typeof x.id === "string" ? (x as unknown as Created) : null;
}

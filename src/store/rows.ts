// Rows as both stores hold them, turned into domain types and back: one mapper for runs, one for events.
import { z } from "zod";
import { ErrorCodeSchema, Limits, NO_LIMITS, PullRequestOptions, RunOutcome, RunStatus, type RunEvent, type RunRecord } from "../runs/model.ts";
import { DeliveryAttempt, DeliveryState, WebhookEvent, WebhookSubscription, WebhookTargetKind, type Delivery } from "../webhooks/model.ts";

/** A runs row with its columns already in JavaScript types (each store converts its own integers and booleans). */
export interface RunColumns {
  id: string;
  request_id: string;
  status: string;
  code: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  idempotency_key: string | null;
  fingerprint: string | null;
  prompt_chars: number;
  title: string | null;
  model: string | null;
  agent: string | null;
  repository: string | null;
  branch: string | null;
  base: string | null;
  push: boolean | null;
  replica: string | null;
  parent_id: string | null;
  thread_id: string | null;
  limits: string | null;
  pull_request: string | null;
  webhooks: string | null;
  owner: string | null;
  answer: string | null;
}

const StoredLimits = z.object({ run: Limits, thread: Limits });

/** A run's caps as the limits column holds them (null on rows older than budgets: none). */
export function limitsColumn(r: Pick<RunRecord, "limits" | "threadLimits">): string {
  return JSON.stringify({ run: r.limits, thread: r.threadLimits });
}

function limitsOf(text: string | null): z.infer<typeof StoredLimits> {
  return text === null ? { run: NO_LIMITS, thread: NO_LIMITS } : StoredLimits.parse(JSON.parse(text));
}

export interface EventColumns {
  seq: number;
  type: string;
  data: string;
  time: number;
}

/** An event as a row: its body as JSON text, its time in milliseconds. */
export interface StoredEvent extends EventColumns {
  runId: string;
}

export function answerOf(answer: string | null): RunOutcome | null {
  return answer === null ? null : RunOutcome.parse(JSON.parse(answer));
}

export function recordOf(row: RunColumns): RunRecord {
  const limits = limitsOf(row.limits);
  return {
    id: row.id,
    requestId: row.request_id,
    // Checked, not cast: a row another version (or a person) wrote must not pass as a domain value.
    status: RunStatus.parse(row.status),
    code: ErrorCodeSchema.nullable().parse(row.code),
    error: row.error,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    idempotencyKey: row.idempotency_key,
    fingerprint: row.fingerprint,
    promptChars: row.prompt_chars,
    title: row.title,
    model: row.model,
    agent: row.agent,
    repository: row.repository,
    branch: row.branch,
    base: row.base,
    push: row.push,
    replica: row.replica,
    parentId: row.parent_id,
    threadId: row.thread_id ?? row.id,
    limits: limits.run,
    threadLimits: limits.thread,
    pullRequest: row.pull_request === null ? null : PullRequestOptions.parse(JSON.parse(row.pull_request)),
    webhooks: row.webhooks === null ? [] : z.array(WebhookSubscription).parse(JSON.parse(row.webhooks)),
    owner: row.owner,
    outcome: answerOf(row.answer),
  };
}

export function storedEvent(e: RunEvent): StoredEvent {
  const { run_id: runId, seq, time, type, ...data } = e;
  // A result's answer is on the run row already (it can be MAX_OUTPUT_SIZE long): reading puts it back.
  const stored = type === "result" ? { ...data, answer: undefined } : data;
  return { runId, seq, type, data: JSON.stringify(stored), time: Date.parse(time) };
}

/** `answer` is asked for only by a result event, so runs without one never read their outcome. */
export function eventOf(runId: string, row: EventColumns, answer: () => RunOutcome | null): RunEvent {
  const data = JSON.parse(row.data) as Record<string, unknown>;
  if (row.type === "result") data.answer = answer();
  return { ...data, type: row.type, run_id: runId, seq: row.seq, time: new Date(row.time).toISOString() } as RunEvent;
}

/** The pull_request and webhooks columns of a new run (null when it has none: no delivery query finds it). */
export function extrasColumns(r: Pick<RunRecord, "pullRequest" | "webhooks">): { pullRequest: string | null; webhooks: string | null } {
  return { pullRequest: r.pullRequest ? JSON.stringify(r.pullRequest) : null, webhooks: r.webhooks.length > 0 ? JSON.stringify(r.webhooks) : null };
}

/** A deliveries row with its columns in JavaScript types. */
export interface DeliveryColumns {
  id: string;
  run_id: string;
  seq: number;
  event: string;
  status: string;
  target: string;
  url: string | null;
  state: string;
  attempts: string;
  next_at: number | null;
  created_at: number;
}

export function deliveryOf(row: DeliveryColumns): Delivery {
  return {
    id: row.id,
    runId: row.run_id,
    seq: row.seq,
    event: WebhookEvent.parse(row.event),
    status: row.status,
    target: WebhookTargetKind.parse(row.target),
    url: row.url,
    state: DeliveryState.parse(row.state),
    attempts: z.array(DeliveryAttempt).parse(JSON.parse(row.attempts)),
    nextAt: row.next_at,
    createdAt: row.created_at,
  };
}

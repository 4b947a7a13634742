// Records, requests, outcomes and events for the store tests, built directly (no event log: the store is under test).
import { NO_LIMITS, type QueuedRequest, type RunEvent, type RunEventBody, type RunOutcome, type RunRecord } from "../../src/runs/model.ts";
import type { EventMaker, Finish } from "../../src/runs/store.ts";

export function record(id: string, createdAt: number, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    requestId: `req-${id}`,
    status: "queued",
    code: null,
    error: null,
    createdAt,
    startedAt: null,
    finishedAt: null,
    idempotencyKey: null,
    fingerprint: "f",
    promptChars: 6,
    title: "prompt",
    model: null,
    agent: null,
    repository: null,
    branch: null,
    base: null,
    push: null,
    replica: null,
    parentId: null,
    threadId: extra.threadId ?? id,
    limits: NO_LIMITS,
    threadLimits: NO_LIMITS,
    pullRequest: null,
    webhooks: [],
    owner: null,
    outcome: null,
    ...extra,
  };
}

export const request = (prompt: string): QueuedRequest => ({ prompt, model: null, agent: null, repository: null });

export const outcome = (id: string, output = "ok"): RunOutcome => ({
  success: true,
  error: null,
  output,
  execution_time: "1ms",
  queue_time: "0s",
  request_id: `req-${id}`,
  run_id: id,
  session_id: null,
  model: null,
  usage: { input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0 },
  tools: [],
  egress: [],
  output_truncated: false,
  exit_code: 0,
});

export const failure = (id: string, requestId: string, model: string | null, error: string): RunOutcome => ({
  ...outcome(id),
  success: false,
  code: "interrupted",
  error,
  output: "",
  request_id: requestId,
  model,
  exit_code: null,
});

/** Millisecond precision: what both stores keep. */
export const TIME = "2030-01-02T03:04:05.678Z";

export function events(runId: string, afterSeq: number, bodies: readonly RunEventBody[]): RunEvent[] {
  return bodies.map((body, i) => ({ ...body, run_id: runId, seq: afterSeq + i + 1, time: TIME }) as RunEvent);
}

export const queuedEvents = (runId: string) => events(runId, 0, [{ type: "status", status: "queued" }]);

/** An EventMaker that also records what it was called with. */
export function maker(bodies: readonly RunEventBody[]): EventMaker & { calls: [string, number][] } {
  const calls: [string, number][] = [];
  const make = (runId: string, lastSeq: number) => {
    calls.push([runId, lastSeq]);
    return events(runId, lastSeq, bodies);
  };
  return Object.assign(make, { calls });
}

export const succeeded = (id: string, at: number, output = "ok"): Finish => ({ status: "succeeded", code: null, error: null, at, outcome: outcome(id, output) });

export const noop = () => {};

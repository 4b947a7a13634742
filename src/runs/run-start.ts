// What a claimed run needs before its pipeline: a follow-up's continuation, its thread's spend so far, its budget — and keeping its own for the next.
import type { Logger } from "../lib/logger.ts";
import { RunStopped } from "./abort.ts";
import { addSpent, Budget, exceededMessage, hasLimits, NOTHING_SPENT, spentOf } from "./budget.ts";
import { continuationSize, decodeContinuation, encodeContinuation, MAX_CONTINUATION_BYTES, type Continuation } from "./continuation.ts";
import type { ActiveRun } from "./active-run.ts";
import type { QueuedRequest, RunRecord, Spent } from "./model.ts";
import type { PipelineEvent, RanRun, RunSpec, StartGate } from "./pipeline.ts";
import type { RepoRequest } from "./repository.ts";
import type { RunResult } from "./result.ts";
import type { RunStore } from "./store.ts";

export function specOf(record: RunRecord, request: QueuedRequest, repo: RepoRequest | null): RunSpec {
  return { runId: record.id, requestId: record.requestId, prompt: request.prompt, model: request.model, agent: request.agent, repo, threadId: record.threadId, resume: null };
}

/** The thread is read in pages of this many runs. */
const THREAD_PAGE = 500;

/** What the thread's other finished runs spent, all of them (runs of a thread never overlap, so they are all over). */
export async function threadSpent(store: RunStore, record: RunRecord): Promise<Spent> {
  let spent = NOTHING_SPENT;
  let after: { createdAt: number; id: string } | undefined;
  for (;;) {
    const page = await store.thread(record.threadId, THREAD_PAGE, after);
    for (const r of page) {
      if (r.id !== record.id && r.outcome) spent = addSpent(spent, r.outcome.budget?.used ?? spentOf(r.outcome.usage, 0));
    }
    const last = page.at(-1);
    if (page.length < THREAD_PAGE || !last) return spent;
    after = { createdAt: last.createdAt, id: last.id };
  }
}

export interface Prepared {
  resume: Continuation | null;
  budget: Budget | null;
  /** Why the run must end before its pipeline starts anything. */
  stop: RunStopped | null;
}

/** Reads what the run starts from; a store fault throws. */
export async function prepareStart(store: RunStore, record: RunRecord): Promise<Prepared> {
  let resume: Continuation | null = null;
  if (record.parentId) {
    const blob = await store.loadContinuation(record.parentId);
    if (!blob) return { resume, budget: null, stop: new RunStopped("session_gone", `Run ${record.parentId}'s session history is no longer kept: this follow-up cannot continue it`) };
    resume = decodeContinuation(blob);
  }
  const budget = new Budget(record.limits, record.threadLimits, hasLimits(record.threadLimits) ? await threadSpent(store, record) : NOTHING_SPENT);
  const exhausted = budget.exhausted();
  return { resume, budget, stop: exhausted ? new RunStopped("budget_exceeded", exceededMessage(exhausted, 0)) : null };
}

/**
 * Stores what a follow-up of this run needs, before its end is written: a client that sees the run end
 * may continue it at once. A failure is logged, never fatal: follow-ups of this run are refused (410).
 */
export async function keepContinuation(store: RunStore, logger: Logger, result: RunResult): Promise<void> {
  const c = result.continuation;
  if (!c) return;
  const id = result.runId;
  if ("problem" in c) {
    logger.warn("the run's session could not be kept: it cannot be continued", { run_id: id, reason: c.problem });
    return;
  }
  const size = continuationSize(c);
  if (size > MAX_CONTINUATION_BYTES) {
    logger.warn("the run's session is too large to keep: it cannot be continued", { run_id: id, bytes: size, max_bytes: MAX_CONTINUATION_BYTES });
    return;
  }
  try {
    await store.saveContinuation(id, encodeContinuation(c));
  } catch (err) {
    logger.error("could not keep the run's session: it cannot be continued", { run_id: id, error: err });
  }
}

type Execute = (spec: RunSpec, signal: AbortSignal, emit: (e: PipelineEvent) => void, gate: StartGate) => Promise<RanRun>;

/** A follow-up's session and the run's budget are read first; a run that must not go on ends through the pipeline's abort path. */
export async function launch(deps: { store: RunStore; logger: Logger; execute: Execute }, run: ActiveRun, spec: RunSpec, emit: (e: PipelineEvent) => void): Promise<RanRun> {
  let prepared: Prepared;
  try {
    prepared = await prepareStart(deps.store, run.record);
  } catch (err) {
    deps.logger.error("could not read what a run starts from", { run_id: spec.runId, error: err });
    prepared = { resume: null, budget: null, stop: new RunStopped("internal", `The run could not start: ${err instanceof Error ? err.message : String(err)}`) };
  }
  run.budget = prepared.budget;
  if (prepared.stop) run.abort(prepared.stop);
  return deps.execute({ ...spec, resume: prepared.resume }, run.signal, emit, run.gate);
}

/** The result with its budget report and its place in the thread; a cost cap a model without prices cannot hold is said in the log. */
export function withThread(result: RunResult, record: RunRecord, budget: Budget | null, logger: Logger): RunResult {
  const out: RunResult = { ...result, budget: budget?.report(result.usage) ?? null, parentRunId: record.parentId, threadId: record.threadId, owner: record.owner };
  const capped = out.budget && (out.budget.limits.max_cost_usd !== null || (out.budget.thread?.limits.max_cost_usd ?? null) !== null);
  if (capped && out.usage.cost === 0 && (out.budget?.used.tokens ?? 0) > 0) {
    logger.warn("a cost cap could not be enforced: opencode reported no cost for this model (use max_tokens for it)", { run_id: record.id, model: out.model, tokens: out.budget?.used.tokens });
  }
  return out;
}

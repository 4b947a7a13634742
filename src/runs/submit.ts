// Admits one run: checks what it asks for, then starts it at once (stored while its agent boots) or queues it.
import { AppError } from "../errors.ts";
import { can, forbidden, type Caller } from "../auth/caller.ts";
import { siteFor } from "../git/forge/sites.ts";
import { subscriptionsFor, type WebhookSettings } from "../webhooks/subscriptions.ts";
import { RunStopped } from "./abort.ts";
import { branchLock, fingerprint, newRecord, queuedRequest, queueFull, scopedIdempotencyKey, type RunInput } from "./admission.ts";
import { resolveLimits } from "./budget.ts";
import type { FollowUp } from "./follow-up.ts";
import type { Limits, QueuedRequest, RunRecord } from "./model.ts";
import type { EventLog } from "./event-log.ts";
import type { Scheduler } from "./scheduler.ts";
import type { StoreHealth } from "./store-health.ts";
import type { RepoPrefix } from "../git/url-policy.ts";
import type { ModelCatalog } from "../opencode/model-catalog.ts";
import type { Logger } from "../lib/logger.ts";
import type { ForgeSite } from "../git/forge/types.ts";
import { StoreError, type RunStore } from "./store.ts";

export interface SubmitDeps {
  store: RunStore;
  events: EventLog;
  scheduler: Scheduler;
  health: StoreHealth;
  logger: Logger;
  allowedRepos: readonly RepoPrefix[];
  /** The models opencode can use; a request naming another is refused before anything runs. */
  models?: ModelCatalog;
  defaultModel: string | null;
  maxQueued: number;
  /** REPLICA_ID, written on runs that start at once. */
  replica: string;
  /** MAX_RUN_*: the caps a request may lower but never raise. */
  ceilings: Limits;
  webhooks: WebhookSettings;
  /** Which forge each repository lives on (FORGES, github.com known): a pull request elsewhere is refused before it runs. */
  forges: readonly ForgeSite[];
}

export interface SubmitOptions {
  requestId: string;
  idempotencyKey: string | null;
  /** Who asks: they need runs:create, and the run is theirs (a follow-up: its thread's owner's). */
  caller: Caller;
  /** The synchronous door: MAX_EXECUTION_TIME counts from submission, so it covers the wait in the queue. */
  deadlineFromSubmission?: boolean;
}

/** Why a run that started before it was stored stops when it cannot be (its client gets the 503). */
function unstoredStop(err: unknown): RunStopped {
  return new RunStopped("internal", `The run could not be stored (${err instanceof Error ? err.message : String(err)}): it was stopped before its agent got the prompt`);
}

/** A store fault as the caller sees it: nothing was started, try again later. */
export function unavailable(err: unknown): AppError {
  return new AppError("store_unavailable", `The run store cannot be used right now (${err instanceof Error ? err.message : String(err)}); retry later`);
}

/** Queues a run (or finds the earlier one with the same Idempotency-Key); it starts when a slot is free. */
export async function submitRun(
  deps: SubmitDeps,
  input: RunInput,
  opts: SubmitOptions,
  followUp: (input: RunInput, parentId: string, caller: Caller) => Promise<FollowUp>,
): Promise<{ id: string; replayed: boolean }> {
  const { store, scheduler } = deps;
  const caller = opts.caller;
  if (!can(caller, "runs:create")) throw forbidden(caller, "runs:create");
  if (scheduler.isDraining) throw new AppError("shutting_down", "The server is shutting down and accepts no new runs");
  // Only a request with an Idempotency-Key can be replayed, so only then is the request hashed.
  const print = opts.idempotencyKey === null ? null : fingerprint(input);
  const idempotencyKey = opts.idempotencyKey === null ? null : scopedIdempotencyKey(caller.name, opts.idempotencyKey);
  const replay = (earlier: RunRecord) => {
    if (earlier.fingerprint !== print) throw new AppError("idempotency_conflict", "This Idempotency-Key was already used for a different request");
    return { id: earlier.id, replayed: true };
  };
  try {
    const earlier = idempotencyKey === null ? null : await store.byIdempotencyKey(idempotencyKey);
    if (earlier) return replay(earlier);
  } catch (err) {
    throw err instanceof StoreError ? unavailable(err) : err;
  }
  const modelProblem = input.model ? deps.models?.problem(input.model) : null;
  if (modelProblem) throw new AppError("invalid_request", `Invalid field "model": ${modelProblem}`, { field: "model" });
  const limits = resolveLimits(input.limits, deps.ceilings, caller);
  const webhooks = subscriptionsFor(input.callbackUrl, deps.webhooks);
  const follow = input.continues ? await followUp(input, input.continues.parentId, caller) : null;
  const request: QueuedRequest = follow ? follow.request : queuedRequest(input, deps.allowedRepos);
  const repo = request.repository;
  if (repo?.pullRequest && !siteFor(deps.forges, repo.url)) {
    throw new AppError("invalid_request", `Invalid field "pull_request": no forge is known for ${repo.url} — name it in FORGES (github.com is known)`, { field: "pull_request" });
  }
  const lock = follow ? follow.lock : branchLock(request);
  const now = Date.now();
  const model = request.model ?? deps.defaultModel;
  const thread = follow ? { parentId: follow.parent.id, threadId: follow.parent.threadId, threadLimits: follow.parent.threadLimits } : { asked: input.limits };
  // A conversation stays its first run's owner's, whoever continues it (a runs:read-all key may).
  const owner = follow ? follow.parent.owner : caller.name;
  const record = newRecord(request, { requestId: opts.requestId, idempotencyKey, fingerprint: print, model, now, limits, thread, webhooks, owner });
  // A run that can start at once never waits, so it is never a queue row: its prompt is not written at all.
  // On a shared store every run goes through the queue, which is what keeps arrival order across replicas.
  const atOnce = !store.shared && scheduler.canStartAtOnce(lock);
  const stored: RunRecord = atOnce ? { ...record, status: "running", startedAt: now, replica: deps.replica } : record;
  deps.events.begin(record.id);
  const events = deps.events.make(record.id, atOnce ? [{ type: "status", status: "queued" }, { type: "status", status: "running" }] : [{ type: "status", status: "queued" }]);
  if (opts.deadlineFromSubmission) scheduler.armDeadline(record.id, now);
  try {
    if (atOnce) {
      // Stored while its agent boots: the run starts, and is written once it reaches its agent (which gets its
      // prompt only then) or a clone — ~0.2 ms off every run's path. Not stored: it stops, and this is a 503.
      const start = scheduler.admit(stored, request, lock, events);
      await start.reachedAt;
      try {
        await store.insertRunning(stored, events);
      } catch (err) {
        scheduler.notStored(record.id, unstoredStop(err));
        start.settle(false);
        throw err;
      }
      start.settle(true);
    } else {
      const queued = await store.enqueue(record, request, lock, events, deps.maxQueued);
      if (!queued.queued) {
        deps.events.forget(record.id);
        scheduler.dropDeadline(record.id);
        if (queued.reason === "duplicate") return replay(queued.earlier);
        throw queueFull(scheduler.inFlight, queued.waiting, scheduler.slots, scheduler.avgRunMs);
      }
      scheduler.queued();
    }
    deps.health.ok();
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (!atOnce) {
      deps.events.forget(record.id);
      scheduler.dropDeadline(record.id);
    }
    deps.health.fault(err);
    throw unavailable(err);
  }
  // A run that starts at once is told by its end line alone (one line per run); a queued one says it waits.
  deps.logger[atOnce ? "debug" : "info"]("run queued", {
    request_id: opts.requestId,
    run_id: record.id,
    ...(owner !== null ? { key: owner } : {}),
    prompt_chars: record.promptChars,
    model,
    agent: request.agent,
    repository: record.repository,
    branch: record.branch,
    ...(record.parentId ? { parent_run_id: record.parentId, thread_id: record.threadId } : {}),
  });
  if (!atOnce) {
    deps.events.publish(events);
    deps.events.release(record.id, events.length);
    scheduler.pump();
  }
  return { id: record.id, replayed: false };
}

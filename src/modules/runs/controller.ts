// The one controller behind POST /run and /runs: requests in, the run service's answers out as HTTP (statuses, views, streams).
import type { Caller } from "../../auth/caller.ts";
import { AppError } from "../../errors.ts";
import { outcomeResponse } from "../../http/answer.ts";
import { eventStream, lastEventId, LiveEvents, SSE_HEADERS } from "../../http/sse.ts";
import { FINAL_STATUSES, type PullRequestOptions } from "../../runs/model.ts";
import type { RunInput, RunService } from "../../runs/service.ts";
import type { FollowUpBody, RunRequestBody } from "../run/model.ts";
import type { RunStatus } from "./model.ts";
import { decodeCursor, deliveryView, encodeCursor, linksOf, summaryOf, viewOf } from "./views.ts";

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** `pull_request` as the run core takes it: options with defaults, false (turned off), or null (not said). */
function pullRequestOf(field: RunRequestBody["pull_request"]): PullRequestOptions | false | null {
  if (field === undefined || field === null) return null;
  if (field === false) return false;
  const o = field === true ? {} : field;
  return { title: o.title ?? null, body: o.body ?? null, draft: o.draft ?? false, base: o.base ?? null };
}

export function inputOf(body: RunRequestBody): RunInput {
  const pullRequest = pullRequestOf(body.pull_request);
  return {
    prompt: body.prompt,
    model: body.model ?? null,
    agent: body.agent ?? null,
    repository: body.repository ? { url: body.repository, branch: body.branch ?? null, base: body.base ?? null, push: body.push ?? true, pullRequest: pullRequest || null } : null,
    continues: body.continue ? { parentId: body.continue, push: body.push ?? null, pullRequest } : null,
    callbackUrl: body.callback_url ?? null,
    limits: { max_cost_usd: body.max_cost_usd ?? null, max_tokens: body.max_tokens ?? null, max_steps: body.max_steps ?? null },
  };
}

/** The request's Idempotency-Key (null: none); a malformed one is a 400. */
export function idempotencyKeyOf(headers: Headers): string | null {
  const key = headers.get("idempotency-key");
  if (key !== null && !IDEMPOTENCY_KEY.test(key)) throw new AppError("invalid_request", "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces");
  return key;
}

/** The request's Last-Event-ID (null: none); a malformed one is a 400. */
export function lastEventIdOf(request: Request): number | null {
  const last = lastEventId(request.headers.get("last-event-id"));
  if (Number.isNaN(last)) throw new AppError("invalid_request", "Last-Event-ID must be the id (a number) of an event from this stream");
  return last;
}

export class RunsController {
  constructor(private readonly service: RunService) {}

  private notFound(id: string): AppError {
    return new AppError("not_found", `No run ${id}`);
  }

  /**
   * POST /run: waits in the same queue as /runs (MAX_EXECUTION_TIME counts from here). A client that goes
   * away cancels its run — unless it sent an Idempotency-Key, which says it will retry and pick it up again.
   */
  async execute(body: RunRequestBody, ctx: { requestId: string; signal: AbortSignal; headers: Headers; caller: Caller; answered?: () => void }): Promise<Response> {
    const idempotencyKey = idempotencyKeyOf(ctx.headers);
    const { id } = await this.service.submit(inputOf(body), { requestId: ctx.requestId, idempotencyKey, caller: ctx.caller, deadlineFromSubmission: true });
    const gone = () => void this.service.cancel(id, "client_closed");
    if (!idempotencyKey) {
      if (ctx.signal.aborted) gone();
      else ctx.signal.addEventListener("abort", gone, { once: true });
    }
    try {
      const outcome = await this.service.wait(id);
      // The run's own line ("run finished", with this request's id) tells how it went: one line per run.
      // A drain notice for a run still queued has no such line: its request line stays.
      if (outcome.success || outcome.code !== "shutting_down") ctx.answered?.();
      return outcomeResponse(outcome);
    } finally {
      ctx.signal.removeEventListener("abort", gone);
    }
  }

  /** POST /run with Accept: text/event-stream: the run goes on if the client disconnects. */
  async stream(body: RunRequestBody, request: Request, requestId: string, caller: Caller): Promise<Response> {
    // Refused before the run is submitted: a 400 must not leave a run behind.
    lastEventIdOf(request);
    const { id } = await this.service.submit(inputOf(body), { requestId, idempotencyKey: idempotencyKeyOf(request.headers), caller, deadlineFromSubmission: true });
    // The run is the caller's (or, replayed, was found among theirs): it streams to a key without runs:read too.
    return this.streamOf(id, request, { location: `/runs/${id}`, "x-run-id": id });
  }

  async create(body: RunRequestBody, ctx: { requestId: string; headers: Headers; caller: Caller }) {
    const handle = await this.service.submit(inputOf(body), { requestId: ctx.requestId, idempotencyKey: idempotencyKeyOf(ctx.headers), caller: ctx.caller });
    const record = await this.service.get(handle.id);
    return {
      replayed: handle.replayed,
      body: { id: handle.id, status: record?.status ?? ("queued" as RunStatus), queue_position: await this.service.queuePosition(handle.id), links: linksOf(handle.id) },
    };
  }

  /** POST /runs/{id}/messages: a follow-up of run `id`, queued like POST /runs. */
  followUp(id: string, body: FollowUpBody, ctx: { requestId: string; headers: Headers; caller: Caller }) {
    return this.create({ ...body, continue: id }, ctx);
  }

  async get(id: string, caller: Caller) {
    const record = await this.service.visible(caller, id);
    if (!record) throw this.notFound(id);
    const view = viewOf(record, record.status === "queued" ? await this.service.queuePosition(id) : null, await this.service.children(id), this.service.forges, await this.service.hasDiff(record));
    return { ...view, webhooks: (await this.service.deliveries(id)).map(deliveryView) };
  }

  async list(q: { status?: RunStatus[]; limit?: number; cursor?: string; thread?: string }, caller: Caller) {
    const limit = q.limit ?? 20;
    const at = q.cursor ? decodeCursor(q.cursor) : undefined;
    // A conversation reads in order; the run list newest first. Both page by (created_at, id).
    const records = q.thread ? await this.service.threadFor(caller, q.thread, limit + 1, at) : await this.service.listFor(caller, { statuses: q.status, limit: limit + 1, before: at });
    const page = records.slice(0, limit);
    const last = page.at(-1);
    // A thread's page is filtered by status after it is read: a page may hold fewer runs, never skip one.
    const shown = q.thread && q.status?.length ? page.filter((r) => q.status?.includes(r.status)) : page;
    return {
      runs: await Promise.all(shown.map(async (r) => summaryOf(r, r.status === "queued" ? await this.service.queuePosition(r.id) : null))),
      next_cursor: records.length > limit && last ? encodeCursor(last) : null,
    };
  }

  /** Cancels and waits until the run has ended: when this answers "cancelled", its processes are gone. */
  async cancel(id: string, caller: Caller) {
    const outcome = await this.service.cancelFor(caller, id);
    if (!outcome) throw this.notFound(id);
    const view = await this.get(id, caller);
    if (outcome.alreadyFinished && FINAL_STATUSES.includes(outcome.record.status)) {
      throw new AppError("run_finished", `The run already ended (${view.status}); there is nothing to cancel`, { status: view.status });
    }
    return view;
  }

  /** GET /runs/:id/diff: the change a repository run made, as git prints it. */
  async diff(id: string, caller: Caller): Promise<Response> {
    if (!(await this.service.visible(caller, id))) throw this.notFound(id);
    const diff = await this.service.diff(id);
    if (!diff) {
      throw new AppError("not_found", `Run ${id} has no diff: it is not a repository run, it has not ended, it changed nothing, or its diff was not kept`);
    }
    return new Response(diff.text, { headers: { "content-type": "text/x-diff; charset=utf-8", "x-diff-truncated": String(diff.truncated) } });
  }

  /** GET /runs/:id/events: the stored events after Last-Event-ID, then the live ones until the result. */
  async events(id: string, request: Request, caller: Caller): Promise<Response> {
    // Checked before the stream opens, Last-Event-ID replay included: no stored event of another key's run leaves.
    if (!(await this.service.visible(caller, id))) throw this.notFound(id);
    return this.streamOf(id, request);
  }

  private async streamOf(id: string, request: Request, headers: Record<string, string> = {}): Promise<Response> {
    const last = lastEventIdOf(request);
    const live = new LiveEvents();
    const sub = await this.service.subscribe(id, last ?? 0, live.listener);
    if (!sub) throw this.notFound(id);
    return new Response(eventStream(sub, live, request.signal), { headers: { ...SSE_HEADERS, ...headers } });
  }
}

// /runs: runs as resources — create (202), read, list, cancel, and follow their events over SSE.
import { Elysia } from "elysia";
import { parsePromptBody } from "../../http/body.ts";
import { SECURITY } from "../../http/docs.ts";
import { errorExample, errorResponses } from "../../http/error-model.ts";
import { callerOf, holdOpen, requestMeta } from "../../http/request-context.ts";
import { FollowUpRequest, RunRequest, type FollowUpBody, type RunRequestBody } from "../run/model.ts";
import type { RunsController } from "./controller.ts";
import { ListQuery, RunCreated, RunIdParams, RunList, RunView } from "./model.ts";

/** A run queued: 202, its Location, and whether an Idempotency-Key found an earlier one. */
function accepted<T extends { links: { self: string } }>(created: { replayed: boolean; body: T }, set: { status?: number | string; headers: Record<string, string | number> }): T {
  set.status = 202;
  set.headers.location = created.body.links.self;
  if (created.replayed) set.headers["idempotent-replayed"] = "true";
  return created.body;
}

export function runsModule(controller: RunsController, opts: { maxRequestBytes: number }) {
  const detail = (summary: string, description: string) => ({ tags: ["runs"], summary, description, security: SECURITY });
  return new Elysia({ name: "runs" })
    .post(
      "/runs",
      async ({ body, request, set }) => {
        // Validated by the parse hook below (the one validation of the body).
        return accepted(await controller.create(body as RunRequestBody, { requestId: requestMeta(request).id, headers: request.headers, caller: callerOf(request) }), set);
      },
      {
        parse: ({ request }) => parsePromptBody(request, opts.maxRequestBytes, RunRequest),
        response: { 202: RunCreated, ...errorResponses(400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503) },
        detail: detail(
          "Start a run (asynchronous)",
          "Same body as POST /run. Answers 202 at once with the run's id and links; follow it with GET /runs/{id} or its events. " +
            "Idempotency-Key: a retry with the same key returns the same run (header Idempotent-Replayed: true); the same key with a different body is 422. " +
            "429 with Retry-After when MAX_QUEUED_RUNS runs are already waiting.",
        ),
      },
    )
    .post(
      "/runs/:id/messages",
      async ({ params, body, request, set }) => {
        // Validated by the parse hook below (the one validation of the body).
        return accepted(await controller.followUp(params.id, body as FollowUpBody, { requestId: requestMeta(request).id, headers: request.headers, caller: callerOf(request) }), set);
      },
      {
        params: RunIdParams,
        parse: ({ request }) => parsePromptBody(request, opts.maxRequestBytes, FollowUpRequest),
        response: { 202: RunCreated, ...errorResponses(400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503) },
        detail: detail(
          "Continue a run (a follow-up)",
          "Starts a new run that continues run {id}'s opencode session with a new prompt (the agent remembers what it did) — on the branch that run delivered to, " +
            "or from the commits the server kept for it (push: false, a failed push). Model, agent and push are inherited unless given. Answers 202 like POST /runs; " +
            "the new run has parent_run_id, and runs of one conversation (GET /runs?thread=) never overlap. 409 run_not_finished while {id} is queued or running; " +
            "410 session_gone when its session history is not kept. POST /run with \"continue\": \"<id>\" does the same synchronously.",
        ),
      },
    )
    .get(
      "/runs",
      ({ query, request }) => controller.list(query, callerOf(request)),
      {
        query: ListQuery,
        response: { 200: RunList, ...errorResponses(400, 401, 403) },
        detail: detail(
          "List runs",
          "Newest first, paginated with ?limit= and ?cursor=, filtered with ?status=running,queued. ?thread=<first run id> lists a conversation in order, oldest first. A key sees its own runs (runs:read), or every run (runs:read-all); 403 forbidden without either.",
        ),
      },
    )
    .get(
      "/runs/:id",
      ({ params, request }) => controller.get(params.id, callerOf(request)),
      {
        params: RunIdParams,
        response: { 200: RunView, ...errorResponses(401, 404) },
        detail: detail("Get a run", "Status, timestamps, queue position and, once finished, the same result POST /run answers with."),
      },
    )
    .delete(
      "/runs/:id",
      ({ params, request }) => controller.cancel(params.id, callerOf(request)),
      {
        params: RunIdParams,
        response: { 200: RunView, ...errorResponses(401, 403, 404, 409) },
        detail: detail(
          "Cancel a run",
          "A queued run is dropped; a running one is stopped. Answers once the run has ended: its whole process tree is gone, its workspace moved out of reach (deleted right after), nothing pushed. 409 run_finished when it had already ended.",
        ),
      },
    )
    .post("/runs/:id/cancel", ({ params, request }) => controller.cancel(params.id, callerOf(request)), {
      params: RunIdParams,
      response: { 200: RunView, ...errorResponses(401, 403, 404, 409) },
      detail: detail("Cancel a run (POST form)", "Same as DELETE /runs/{id}, for clients that cannot send DELETE."),
    })
    .get("/runs/:id/diff", ({ params, request }) => controller.diff(params.id, callerOf(request)), {
      params: RunIdParams,
      response: errorResponses(401, 404),
      detail: detail(
        "Get a run's diff",
        "text/x-diff: what a finished repository run changed, from the commit it started from to its commit (git diff --binary): the patch of a push: false run, or the diff the server kept at the run's end. " +
          "X-Diff-Truncated: true when it was cut at MAX_OUTPUT_SIZE. 404 when the run changed nothing or is not a repository run.",
      ),
    })
    .get(
      "/runs/:id/events",
      ({ params, request }) => {
        holdOpen(request);
        return controller.events(params.id, request, callerOf(request));
      },
      {
        params: RunIdParams,
        response: errorResponses(400, 401, 404),
        detail: {
          ...detail(
            "Follow a run's events (Server-Sent Events)",
            "text/event-stream. Each event has `id:` (its sequence number), `event:` (status, text, tool, usage, git or result) and `data:` " +
              "(JSON with run_id, seq, time, type and the fields of that type). Reconnect with the Last-Event-ID header to get exactly the events you missed. " +
              "The stream ends after the `result` event, whose `answer` is the JSON POST /run answers with.",
          ),
        },
      },
    );
}

const EVENT_EXAMPLE = [
  'id: 1\nevent: status\ndata: {"type":"status","status":"queued","run_id":"0b6f…","seq":1,"time":"2026-11-24T12:00:00.000Z"}',
  'id: 3\nevent: text\ndata: {"type":"text","text":"Created fib.py","run_id":"0b6f…","seq":3,"time":"2026-11-24T12:00:04.000Z"}',
  'id: 7\nevent: result\ndata: {"type":"result","status":"succeeded","http_status":200,"answer":{"success":true,"output":"Created fib.py","…":"…"},"run_id":"0b6f…","seq":7,"time":"2026-11-24T12:00:05.000Z"}',
].join("\n\n");

const AUTH = "unauthorized: no valid API key; key_expired: the key's expiry (API_KEYS_FILE) has passed";
const NOT_FOUND = "not_found: no such run, or one this key may not read";
const CANCEL_FORBIDDEN = "forbidden: the key may read the run but lacks runs:cancel (its own runs) or runs:cancel-all";
const CREATE_FORBIDDEN = "; forbidden: the key lacks runs:create";

/** Per-status wording the generator cannot derive, for every /runs operation. */
export const runsOperationDocs = {
  "POST /runs": {
    responses: {
      202: "Accepted: the run's id, status, queue position and links (Location header; Idempotent-Replayed: true for a retry with the same key)",
      400: "invalid_request: empty body, blank prompt, invalid JSON, or an invalid field (named in `field`)",
      401: AUTH,
      403: "repository_not_allowed: the repository is not under ALLOWED_REPO_PREFIXES; callback_not_allowed: callback_url is not under WEBHOOK_ALLOWED_PREFIXES" + CREATE_FORBIDDEN,
      404: "not_found: `continue` names no run",
      409: "run_not_finished: the run to continue is still queued or running",
      410: "session_gone: the run to continue has no kept opencode session",
      413: "payload_too_large: the body exceeds MAX_REQUEST_SIZE",
      415: "unsupported_media_type: send text/plain or application/json",
      422: "idempotency_conflict: the Idempotency-Key was used for a different request",
      429: "rate_limited: MAX_QUEUED_RUNS runs are already waiting (Retry-After says when to retry)",
      503: "shutting_down: the server is draining",
    },
  },
  "POST /runs/{id}/messages": {
    responses: {
      202: "Accepted: the follow-up run's id, status, queue position and links",
      400: "invalid_request: empty body, blank prompt, invalid JSON, an invalid field (named in `field`), or a cap above the server's ceiling",
      401: AUTH,
      403: "repository_not_allowed: the earlier run's repository is no longer under ALLOWED_REPO_PREFIXES; callback_not_allowed: callback_url is not under WEBHOOK_ALLOWED_PREFIXES" + CREATE_FORBIDDEN,
      404: NOT_FOUND,
      409: "run_not_finished: the run is still queued or running",
      410: "session_gone: the run's opencode session is not kept (it ended before its agent started, or it could not be saved)",
      413: "payload_too_large: the body exceeds MAX_REQUEST_SIZE",
      415: "unsupported_media_type: send text/plain or application/json",
      422: "idempotency_conflict: the Idempotency-Key was used for a different request",
      429: "rate_limited: MAX_QUEUED_RUNS runs are already waiting (Retry-After says when to retry)",
      503: "shutting_down: the server is draining",
    },
  },
  "GET /runs": {
    responses: { 200: "A page of runs, newest first", 400: "invalid_request: a bad status, limit or cursor", 401: AUTH, 403: "forbidden: the key has neither runs:read nor runs:read-all" },
    examples: {
      400: [
        {
          summary: "invalid_request",
          value: errorExample("invalid_request", {
            error: 'Invalid field "status.0": must be among queued, running, succeeded, failed, timed_out, cancelled, interrupted',
            details: { field: "status.0" },
          }),
        },
      ],
    },
  },
  "GET /runs/{id}": { responses: { 200: "The run", 401: AUTH, 404: NOT_FOUND } },
  "DELETE /runs/{id}": {
    responses: { 200: "The run, now cancelled: its processes are gone and its workspace moved out of reach (deleted right after)", 401: AUTH, 403: CANCEL_FORBIDDEN, 404: NOT_FOUND, 409: "run_finished: it had already ended" },
  },
  "POST /runs/{id}/cancel": {
    responses: { 200: "The run, now cancelled", 401: AUTH, 403: CANCEL_FORBIDDEN, 404: NOT_FOUND, 409: "run_finished: it had already ended" },
  },
};

/** OpenAPI for the diff: plain text. */
export const diffOperationDoc = {
  responses: { 401: AUTH, 404: "not_found: no such run, or it has no diff" },
  addResponses: {
    200: {
      description: "The diff (X-Diff-Truncated says whether it was cut)",
      headers: { "X-Diff-Truncated": { schema: { type: "string", enum: ["true", "false"] } } },
      content: { "text/x-diff": { schema: { type: "string" }, example: "diff --git a/fib.py b/fib.py\nnew file mode 100644\n--- /dev/null\n+++ b/fib.py\n@@ -0,0 +1,2 @@\n+def fib(n):\n+    return n if n < 2 else fib(n - 1) + fib(n - 2)\n" } },
    },
  },
};

/** OpenAPI for the stream: the generator knows JSON answers only. */
export const eventsOperationDoc = {
  responses: { 400: "invalid_request: a malformed Last-Event-ID", 401: AUTH, 404: NOT_FOUND },
  examples: {
    400: [
      {
        summary: "invalid_request (Last-Event-ID)",
        value: errorExample("invalid_request", { error: "Last-Event-ID must be the id (a number) of an event from this stream" }),
      },
    ],
  },
  addResponses: {
    200: {
      description: "The run's events as Server-Sent Events (event types: status, text, tool, usage, git, result)",
      content: { "text/event-stream": { schema: { type: "string" }, example: EVENT_EXAMPLE } },
    },
  },
};

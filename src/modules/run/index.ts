// POST /run: the seed's synchronous door — holds the request until the agent is done (or streams its events).
import { Elysia } from "elysia";
import { parsePromptBody } from "../../http/body.ts";
import { SECURITY } from "../../http/docs.ts";
import { ErrorResponse, errorResponses } from "../../http/error-model.ts";
import { holdOpen, requestMeta } from "../../http/request-context.ts";
import type { RunManager } from "../../runs/run-manager.ts";
import { eventsResponse, idempotencyKeyOf, lastEventIdOf } from "../runs/index.ts";
import { RunFailure, RunRequest, RunSuccess } from "./model.ts";
import { runInputOf, type RunService } from "./service.ts";

function wantsEventStream(request: Request): boolean {
  return (request.headers.get("accept") ?? "").toLowerCase().includes("text/event-stream");
}

export function runModule(service: RunService, runs: RunManager, opts: { maxRequestBytes: number }) {
  return new Elysia({ name: "run" }).post(
    "/run",
    async ({ body, request, set }) => {
      holdOpen(request);
      const requestId = requestMeta(request).id;
      const idempotencyKey = idempotencyKeyOf(request.headers);
      if (wantsEventStream(request)) {
        // Refused before the run is submitted: a 400 must not leave a run behind.
        lastEventIdOf(request);
        // Streaming: the run goes on if the client disconnects; reconnect to /runs/{id}/events with Last-Event-ID.
        const handle = runs.submit(runInputOf(body), { requestId, idempotencyKey, deadlineFromSubmission: true });
        return eventsResponse(runs, handle.id, request, { location: `/runs/${handle.id}`, "x-run-id": handle.id });
      }
      const finished = await service.execute(body, { requestId, signal: request.signal, idempotencyKey });
      // Both branches answer with a Response (the stream cannot be anything else); the schemas below document them.
      set.status = finished.httpStatus;
      return new Response(finished.json, { status: finished.httpStatus, headers: { "content-type": "application/json;charset=utf-8" } });
    },
    {
      parse: ({ request }) => parsePromptBody(request, opts.maxRequestBytes, RunRequest),
      body: RunRequest,
      response: {
        200: RunSuccess,
        ...errorResponses(401, 413, 415, 422, 429),
        400: RunFailure.or(ErrorResponse),
        403: RunFailure.or(ErrorResponse),
        408: RunFailure,
        409: RunFailure,
        500: RunFailure.or(ErrorResponse),
        502: RunFailure,
        503: RunFailure.or(ErrorResponse),
      },
      detail: {
        tags: ["run"],
        summary: "Run the agent on a prompt (synchronous)",
        description:
          "Body: the prompt as text/plain, or JSON (RunRequest). Waits in the same queue as POST /runs (MAX_EXECUTION_TIME counts from arrival), " +
          "runs the agent and answers with its output. With Accept: text/event-stream the answer is the run's event stream instead (see GET /runs/{id}/events). " +
          "Idempotency-Key: a retry with the same key gets the same run's answer (and a disconnect does not cancel it). Without a key, a client that disconnects cancels its run.",
        security: SECURITY,
      },
    },
  );
}

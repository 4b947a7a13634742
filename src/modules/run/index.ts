// POST /run: the seed's synchronous door — holds the request until the agent is done (or streams its events).
import { Elysia } from "elysia";
import { parsePromptBody } from "../../http/body.ts";
import { SECURITY } from "../../http/docs.ts";
import { ErrorResponse, errorResponses } from "../../http/error-model.ts";
import { callerOf, holdOpen, requestMeta } from "../../http/request-context.ts";
import type { RunsController } from "../runs/controller.ts";
import { RunFailure, RunRequest, RunSuccess, type RunRequestBody } from "./model.ts";

function wantsEventStream(request: Request): boolean {
  return (request.headers.get("accept") ?? "").toLowerCase().includes("text/event-stream");
}

export function runModule(controller: RunsController, opts: { maxRequestBytes: number }) {
  return new Elysia({ name: "run" }).post(
    "/run",
    ({ body, request }) => {
      holdOpen(request);
      const meta = requestMeta(request);
      const requestId = meta.id;
      // Validated by the parse hook below (the one validation of the body).
      const input = body as RunRequestBody;
      if (wantsEventStream(request)) return controller.stream(input, request, requestId, callerOf(request));
      // Both branches answer with a Response (the stream cannot be anything else); the schemas below document them.
      return controller.execute(input, { requestId, signal: request.signal, headers: request.headers, caller: callerOf(request), answered: () => (meta.loggedElsewhere = true) });
    },
    {
      parse: ({ request }) => parsePromptBody(request, opts.maxRequestBytes, RunRequest),
      response: {
        200: RunSuccess,
        ...errorResponses(401, 404, 410, 413, 415, 422, 429),
        400: RunFailure.or(ErrorResponse),
        402: RunFailure,
        403: RunFailure.or(ErrorResponse),
        408: RunFailure,
        409: RunFailure.or(ErrorResponse),
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

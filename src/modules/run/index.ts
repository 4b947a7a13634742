// POST /run: the seed's synchronous door — holds the request until the agent is done.
import { Elysia } from "elysia";
import { errorResponses } from "../../http/error-model.ts";
import { ErrorResponse } from "../../http/error-model.ts";
import { parsePromptBody } from "../../http/body.ts";
import { SECURITY } from "../../http/docs.ts";
import { requestMeta } from "../../http/request-context.ts";
import { RunFailure, RunRequest, RunSuccess } from "./model.ts";
import type { RunService } from "./service.ts";

export function runModule(service: RunService, opts: { maxRequestBytes: number }) {
  return new Elysia({ name: "run" }).post(
    "/run",
    async ({ body, request, set, server }) => {
      // A run may take minutes in silence: lift the connection's idle timeout for this request.
      server?.timeout(request, 0);
      const answer = await service.execute(body, { requestId: requestMeta(request).id, signal: request.signal });
      set.status = answer.status;
      return answer.body;
    },
    {
      parse: ({ request }) => parsePromptBody(request, opts.maxRequestBytes),
      body: RunRequest,
      response: {
        200: RunSuccess,
        ...errorResponses(401, 403, 413, 415),
        400: RunFailure.or(ErrorResponse),
        408: RunFailure,
        500: RunFailure.or(ErrorResponse),
        502: RunFailure,
        503: RunFailure.or(ErrorResponse),
      },
      detail: {
        tags: ["run"],
        summary: "Run the agent on a prompt",
        description:
          "Body: the prompt as text/plain, or JSON (RunRequest). Waits until the agent finishes, then answers with its output. " +
          "408 when MAX_EXECUTION_TIME passes (with the output so far); 500 when opencode fails (the error says why); " +
          "503 while the server shuts down.",
        security: SECURITY,
      },
    },
  );
}

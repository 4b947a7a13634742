// The /runs resource: its views, list query, and the events its stream carries, as zod schemas.
import { z } from "zod";
import { PullRequestOptions, RUN_STATUSES, RunStatus } from "../../runs/model.ts";
import { DeliveryAttempt, DeliveryState, WebhookEvent } from "../../webhooks/model.ts";
import { RunFailure, RunSuccess } from "../run/model.ts";

export { RUN_STATUSES, RunStatus };

const Links = z.object({
  self: z.string().describe("GET: this run"),
  events: z.string().describe("GET: its events (Server-Sent Events)"),
  cancel: z.string().describe("DELETE: cancel it"),
  messages: z.string().describe("POST: continue it with a new prompt, once it has ended"),
});

export const RunCreated = z
  .object({
    id: z.string(),
    status: RunStatus,
    queue_position: z.number().int().nullable().describe("1 = next to start; null once started"),
    links: Links,
  })
  .meta({
    id: "RunCreated",
    examples: [
      {
        id: "0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c",
        status: "queued",
        queue_position: 1,
        links: {
          self: "/runs/0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c",
          events: "/runs/0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c/events",
          cancel: "/runs/0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c",
          messages: "/runs/0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c/messages",
        },
      },
    ],
  });

const summaryFields = {
  id: z.string(),
  status: RunStatus,
  request_id: z.string().describe("The request that created the run"),
  created_at: z.string().describe("RFC 3339"),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  queue_position: z.number().int().nullable(),
  replica: z.string().nullable().describe("The replica (REPLICA_ID) that executes or executed the run; null while it waits"),
  prompt_chars: z.number().int().describe("The prompt's length"),
  title: z.string().nullable().describe("The prompt's first line, at most 120 characters (the rest of the prompt is not stored); null for runs stored before titles were"),
  cost_usd: z.number().nullable().describe("What the run cost (USD, as opencode computes it), once finished"),
  model: z.string().nullable(),
  agent: z.string().nullable(),
  repository: z.string().nullable(),
  branch: z.string().nullable().describe("The branch asked for (the result says where the work went)"),
  base: z.string().nullable(),
  push: z.boolean().nullable(),
  code: z.string().nullable().describe("Why it did not succeed, once finished"),
  error: z.string().nullable(),
  parent_run_id: z.string().nullable().describe("The run this one continues (a follow-up); null for a first run"),
  thread_id: z.string().describe("The conversation's first run (this run's own id for a first run): GET /runs?thread= lists it"),
  owner: z.string().nullable().describe("The name of the API key whose run it is (a follow-up: its thread's); null on a server without keys and for runs from before owners"),
  links: Links,
};

export const RunSummary = z.object(summaryFields).meta({ id: "RunSummary" });

export const WebhookDelivery = z
  .object({
    id: z.string().describe("The delivery id (also in the signed body and X-Webhook-Id): the same on every attempt"),
    event: WebhookEvent,
    status: RunStatus.describe("The status the delivery announces"),
    target: z.enum(["callback_url", "WEBHOOK_URL"]),
    url: z.string().nullable().describe("The callback_url; null for the server's WEBHOOK_URL (not shown)"),
    state: DeliveryState.describe("pending (due, or waiting for its next attempt), delivered (a 2xx), failed (attempts used up, or the destination refused)"),
    attempts: z.array(DeliveryAttempt),
    next_attempt_at: z.string().nullable().describe("When a pending delivery is tried next (RFC 3339)"),
  })
  .meta({ id: "WebhookDelivery" });

export const RunView = z
  .object({
    ...summaryFields,
    pull_request: PullRequestOptions.nullable().describe("The pull request asked for (inherited by follow-ups); the result's pull_request says what happened"),
    webhooks: z.array(WebhookDelivery).describe("Deliveries of this run's webhooks and every attempt, in order"),
    children: z.array(z.string()).describe("Runs that continue this one (POST /runs/{id}/messages), oldest first"),
    diff: z.boolean().describe("True when GET /runs/{id}/diff has the change this repository run made"),
    forge_links: z
      .object({ branch: z.string().nullable(), commit: z.string().nullable() })
      .nullable()
      .describe("The pushed branch's and commit's pages on the forge (FORGES; github.com is known); null when not pushed or no forge is configured for the repository"),
    result: RunSuccess.or(RunFailure).nullable().describe("Once finished: the same JSON POST /run answers with"),
  })
  .meta({ id: "Run" });

export const RunList = z
  .object({
    runs: z.array(RunSummary).describe("Newest first (with ?thread=: the conversation in order, oldest first)"),
    next_cursor: z.string().nullable().describe("Pass as ?cursor= for the next page; null on the last page"),
  })
  .meta({ id: "RunList" });

export const ListQuery = z
  .object({
    // ?status=a,b and ?status=a&status=b both arrive here; Elysia may already have split them.
    status: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(",")).filter(Boolean))
      .pipe(z.array(z.enum(RUN_STATUSES, { error: `must be among ${RUN_STATUSES.join(", ")}` })))
      .optional()
      .describe("Only runs in these states: comma-separated or repeated"),
    limit: z.coerce.number().int().min(1).max(100).optional().describe("Page size, 1–100 (default 20)"),
    cursor: z.string().max(200).optional(),
    thread: z.string().min(1).max(100).optional().describe("A conversation's first run id: its runs in order, oldest first"),
  })
  .strict();

/** Any string: an id that cannot exist is simply a run that does not exist (404), as GitHub and Stripe answer. */
export const RunIdParams = z.object({ id: z.string() });


export type RunViewBody = z.infer<typeof RunView>;
export type WebhookDeliveryBody = z.infer<typeof WebhookDelivery>;
export type RunSummaryBody = z.infer<typeof RunSummary>;

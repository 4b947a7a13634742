// A stored run as the API shows it (snake_case JSON, links, its queue position), and list cursors.
import { AppError } from "../../errors.ts";
import { RunStatus, type RunRecord } from "../../runs/model.ts";
import type { Delivery } from "../../webhooks/model.ts";
import type { ForgeSite } from "../../git/forge/types.ts";
import { webLinks, type WebLinks } from "../../git/forge/web-links.ts";
import type { RunSummaryBody, RunViewBody, WebhookDeliveryBody } from "./model.ts";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function linksOf(id: string) {
  return { self: `/runs/${id}`, events: `/runs/${id}/events`, cancel: `/runs/${id}`, messages: `/runs/${id}/messages` };
}

export function summaryOf(r: RunRecord, queuePosition: number | null): RunSummaryBody {
  return {
    id: r.id,
    status: r.status,
    request_id: r.requestId,
    created_at: iso(r.createdAt) as string,
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    queue_position: queuePosition,
    replica: r.replica,
    prompt_chars: r.promptChars,
    title: r.title,
    cost_usd: r.outcome ? r.outcome.usage.cost : null,
    model: r.model,
    agent: r.agent,
    repository: r.repository,
    branch: r.branch,
    base: r.base,
    push: r.push,
    code: r.code,
    error: r.error,
    parent_run_id: r.parentId,
    thread_id: r.threadId,
    owner: r.owner,
    links: linksOf(r.id),
  };
}

export function deliveryView(d: Delivery): WebhookDeliveryBody {
  return {
    id: d.id,
    event: d.event,
    status: RunStatus.parse(d.status),
    target: d.target === "callback" ? "callback_url" : "WEBHOOK_URL",
    url: d.target === "callback" ? d.url : null,
    state: d.state,
    attempts: d.attempts,
    next_attempt_at: d.state === "pending" ? iso(d.nextAt) : null,
  };
}

/** Links only to what is on the forge: a pushed branch and its commit. */
function forgeLinksOf(r: RunRecord, forges: readonly ForgeSite[]): WebLinks | null {
  const o = r.outcome;
  if (!o?.pushed || !o.repository) return null;
  return webLinks(forges, o.repository, o.branch ?? null, o.commit ?? null);
}

/** GET /runs/{id} without its `webhooks` (the controller adds them): what a webhook delivery carries. */
export function viewOf(r: RunRecord, queuePosition: number | null, children: string[], forges: readonly ForgeSite[], diff: boolean): Omit<RunViewBody, "webhooks"> {
  return {
    ...summaryOf(r, queuePosition),
    pull_request: r.pullRequest,
    children,
    diff,
    forge_links: forgeLinksOf(r, forges),
    result: r.outcome,
  };
}

export function encodeCursor(r: Pick<RunRecord, "createdAt" | "id">): string {
  return Buffer.from(`${r.createdAt}:${r.id}`).toString("base64url");
}

export function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const m = /^(\d{1,15}):([0-9a-f-]{36})$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!m) throw new AppError("invalid_request", 'Invalid field "cursor": not a cursor from a previous page', { field: "cursor" });
  return { createdAt: Number(m[1]), id: m[2] as string };
}

// What a request becomes before it is queued: its fingerprint, its allowed repository, its record; or why it is refused.
import { createHash } from "node:crypto";
import { AppError } from "../errors.ts";
import { allowedRepository, RepositoryUrlError, type RepoPrefix } from "../git/url-policy.ts";
import { newRunId } from "./ids.ts";
import type { WebhookSubscription } from "../webhooks/model.ts";
import type { Limits, PullRequestOptions, QueuedRequest, RunRecord } from "./model.ts";

/** A validated request: the repository URL is checked (syntax) but not yet allowed (policy). */
export interface RunInput {
  prompt: string;
  model: string | null;
  agent: string | null;
  repository: { url: URL; branch: string | null; base: string | null; push: boolean; pullRequest: PullRequestOptions | null } | null;
  /** A follow-up: the finished run it continues, whether to push and open a pull request (null: as that run did; false: no pull request). */
  continues: { parentId: string; push: boolean | null; pullRequest: PullRequestOptions | false | null } | null;
  /** callback_url as sent (checked against WEBHOOK_ALLOWED_PREFIXES by the service). */
  callbackUrl: string | null;
  /** The caps the request asked for (null: the server's ceiling). */
  limits: Limits;
}

/** Same request, same fingerprint: how an Idempotency-Key reused for something else is caught. */
export function fingerprint(input: RunInput): string {
  const { pullRequest, ...repoFields } = input.repository ?? { pullRequest: null };
  const repo = input.repository ? { ...repoFields, url: input.repository.url.href } : null;
  const extra = input.continues || Object.values(input.limits).some((v) => v !== null) ? [input.continues, input.limits] : [];
  // Fields newer than the fingerprint count only when set: a key retried across an upgrade still matches.
  const later = pullRequest || input.callbackUrl ? [pullRequest, input.callbackUrl] : [];
  return createHash("sha256").update(JSON.stringify([input.prompt, input.model, input.agent, repo, ...extra, ...later])).digest("hex");
}

/** What the queue stores for the run to start from; the repository must be under the allow-list (403). */
export function queuedRequest(input: RunInput, allowedRepos: readonly RepoPrefix[]): QueuedRequest {
  if (!input.repository) return { prompt: input.prompt, model: input.model, agent: input.agent, repository: null };
  const { url, branch, base, push, pullRequest } = input.repository;
  try {
    const allowed = allowedRepository(url, allowedRepos).href;
    return { prompt: input.prompt, model: input.model, agent: input.agent, repository: { url: allowed, branch, base, push, pullRequest } };
  } catch (err) {
    if (err instanceof RepositoryUrlError) throw new AppError("repository_not_allowed", err.message);
    throw err;
  }
}

/** Idempotency-Keys are per API key: the stored key is prefixed with the key's name (neither holds a space). */
export function scopedIdempotencyKey(owner: string | null, key: string): string {
  return owner === null ? key : `${owner} ${key}`;
}

/** Runs on one branch of one repository take turns: this is their lock's name. */
export function branchLock(request: QueuedRequest): string | null {
  const repo = request.repository;
  return repo?.branch ? `${repo.url}#${repo.branch}` : null;
}

/** MAX_QUEUED_RUNS reached: 429 with a Retry-After from how long the runs ahead should take. */
export function queueFull(running: number, queued: number, slots: number, avgRunMs: number): AppError {
  const waves = Math.ceil((queued + 1) / Math.max(1, slots));
  const retryAfter = Math.min(3600, Math.max(1, Math.round((avgRunMs * waves) / 1000)));
  return new AppError("rate_limited", `Too many runs: ${running} running and ${queued} queued (MAX_QUEUED_RUNS); retry later`, { retry_after: retryAfter });
}

export interface RecordOptions {
  requestId: string;
  idempotencyKey: string | null;
  fingerprint: string | null;
  model: string | null;
  now: number;
  limits: Limits;
  webhooks: WebhookSubscription[];
  /** The key the run belongs to (default: none). */
  owner?: string | null;
  /** A follow-up's place in its conversation; a first run starts its own (its caps as asked are the thread's). */
  thread: { parentId: string; threadId: string; threadLimits: Limits } | { asked: Limits };
}

/** Long enough to tell runs apart in a list, short enough that a prompt's body is not kept. */
export const TITLE_CHARS = 120;

/** The prompt's first non-blank line, its whitespace collapsed, cut at TITLE_CHARS characters. */
export function titleOf(prompt: string): string {
  const line = prompt.split("\n").find((l) => l.trim() !== "") ?? "";
  const chars = [...line.replace(/\s+/g, " ").trim()];
  return chars.length > TITLE_CHARS ? `${chars.slice(0, TITLE_CHARS - 1).join("")}…` : chars.join("");
}

export function newRecord(request: QueuedRequest, opts: RecordOptions): RunRecord {
  const repo = request.repository;
  const id = newRunId();
  const thread = "parentId" in opts.thread ? opts.thread : { parentId: null, threadId: id, threadLimits: opts.thread.asked };
  return {
    id,
    requestId: opts.requestId,
    status: "queued",
    code: null,
    error: null,
    createdAt: opts.now,
    startedAt: null,
    finishedAt: null,
    idempotencyKey: opts.idempotencyKey,
    fingerprint: opts.fingerprint,
    promptChars: request.prompt.length,
    title: titleOf(request.prompt),
    model: opts.model,
    agent: request.agent,
    repository: repo?.url ?? null,
    branch: repo?.branch ?? null,
    base: repo?.base ?? null,
    push: repo ? repo.push : null,
    replica: null,
    parentId: thread.parentId,
    threadId: thread.threadId,
    limits: opts.limits,
    threadLimits: thread.threadLimits,
    pullRequest: repo?.pullRequest ?? null,
    webhooks: opts.webhooks,
    owner: opts.owner ?? null,
    outcome: null,
  };
}

// What the pull-request clients share: forge kinds and sites, the client interface, the one error type they throw, common argument checks.
import { z } from "zod";

export const FORGE_KINDS = ["github", "gitlab", "gitea"] as const;
export type ForgeKind = (typeof FORGE_KINDS)[number];

/** One forge site: repositories under `prefix` live on a forge of `kind` whose REST API is at `apiUrl`. */
export interface ForgeSite {
  /** Normalised URL prefix (lower-case host, no default port), ends with "/". */
  prefix: string;
  kind: ForgeKind;
  /** No trailing slash. */
  apiUrl: string;
}

export interface PullRequestRef {
  /** GitHub/Gitea `number`, GitLab `iid`: what the forge's own pages and other endpoints call it by. */
  number: number;
  /** The web page (html_url / web_url). */
  url: string;
}

export interface NewPullRequest {
  head: string;
  base: string;
  title: string;
  body: string;
  draft: boolean;
}

export interface ForgeClient {
  /** The open pull request from branch `head` (into `base` when given), or null. */
  findOpen(head: string, base: string | null): Promise<PullRequestRef | null>;
  /** Retried only after checking that an earlier attempt did not already open it (see ForgeCall.recover). */
  create(p: NewPullRequest): Promise<PullRequestRef>;
  updateBody(number: number, body: string): Promise<void>;
  comment(number: number, body: string): Promise<void>;
}

export type ForgeErrorKind =
  /** The forge answered with an error status. */
  | "http"
  /** Its limits refused the request (429, GitHub's rate limits). */
  | "rate_limited"
  /** create: an open pull request for these branches exists already. */
  | "already_exists"
  | "network"
  | "timeout"
  /** The caller's signal ended the request or a wait between attempts. */
  | "aborted"
  /** A success status whose body is not what the forge documents. */
  | "invalid_answer"
  /** Refused before sending: an argument no forge could accept. */
  | "invalid_request";

export class ForgeError extends Error {
  override readonly name = "ForgeError";
  /** HTTP status; null when no answer arrived. */
  readonly status: number | null;
  readonly kind: ForgeErrorKind;
  /** Whether the same request may succeed later (server errors, limits, lost connections). */
  readonly retryable: boolean;
  /** When the forge said the next request is allowed (epoch ms), if it said. */
  readonly retryAt: number | null;

  /** `message` must already be scrubbed: it includes the forge's own words, never the token. */
  constructor(message: string, init: { status: number | null; kind: ForgeErrorKind; retryable: boolean; retryAt?: number | null; cause?: unknown }) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.kind = init.kind;
    this.retryable = init.retryable;
    this.retryAt = init.retryAt ?? null;
  }
}

/** A page link from a forge's answer: shown to people, so only http(s). */
export const webUrl = z.url({ protocol: /^https?$/ });

/** `owner/repo` for GitHub and Gitea, which have no nested groups. */
export function ownerAndRepo(repoPath: string, forge: string): [string, string] {
  const parts = repoPath.split("/");
  const [owner, repo] = parts;
  if (parts.length !== 2 || !owner || !repo) {
    throw new ForgeError(`${forge}: repository path "${repoPath}" is not owner/repo`, { status: null, kind: "invalid_request", retryable: false });
  }
  return [owner, repo];
}

/** A pull request number as a path segment; refuses what no forge numbers a pull request with. */
export function numberSegment(n: number): string {
  if (!Number.isSafeInteger(n) || n <= 0) throw new ForgeError(`pull request number ${n} is not a positive integer`, { status: null, kind: "invalid_request", retryable: false });
  return String(n);
}

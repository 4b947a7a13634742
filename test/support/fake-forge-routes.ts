// The fake forge's API handlers: GitHub (/api/v3), GitLab (/api/v4) and Gitea (/api/v1), with each forge's own answer shapes.

export type FakeKind = "github" | "gitlab" | "gitea";

export interface FakePull {
  kind: FakeKind;
  repo: string;
  /** GitHub/Gitea number, GitLab iid. */
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  draft: boolean;
  state: "open" | "closed";
}

export interface FakeComment {
  kind: FakeKind;
  repo: string;
  number: number;
  body: string;
}

export interface ForgeState {
  token: string;
  repos: Record<FakeKind, string[]>;
  pulls: FakePull[];
  comments: FakeComment[];
  /** http://127.0.0.1:port: the web pages' base too. */
  web: string;
}

export interface ParsedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: unknown;
}

export const API_ROOT: Record<FakeKind, string> = { github: "/api/v3", gitlab: "/api/v4", gitea: "/api/v1" };
const KINDS: FakeKind[] = ["github", "gitlab", "gitea"];
const SHA = "0123456789abcdef0123456789abcdef01234567";
const STAMP = "2024-01-01T00:00:00Z";
const GH_DOCS = "https://docs.github.com/rest";

const json = (status: number, body: unknown) => Response.json(body, { status });

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const field = (body: unknown, name: string): unknown => (isRecord(body) ? body[name] : undefined);
const str = (body: unknown, name: string): string | undefined => {
  const v = field(body, name);
  return typeof v === "string" ? v : undefined;
};

/** The presented token, in any form the forge accepts; "" when none. */
function presented(kind: FakeKind, headers: Headers): string {
  const auth = headers.get("authorization") ?? "";
  const scheme = /^(bearer|token) (.+)$/i.exec(auth);
  if (kind === "gitlab") return headers.get("private-token") ?? (/^bearer$/i.test(scheme?.[1] ?? "") ? (scheme?.[2] ?? "") : "");
  return scheme?.[2] ?? "";
}

function unauthorized(kind: FakeKind, missing: boolean, web: string): Response {
  if (kind === "github") return json(401, { message: missing ? "Requires authentication" : "Bad credentials", documentation_url: GH_DOCS, status: "401" });
  if (kind === "gitlab") return json(401, { message: "401 Unauthorized" });
  return json(401, { message: missing ? "token is required" : "invalid username, password or token", url: `${web}/api/swagger` });
}

function notFound(kind: FakeKind, what: "project" | "item", web: string): Response {
  if (kind === "github") return json(404, { message: "Not Found", documentation_url: GH_DOCS, status: "404" });
  if (kind === "gitlab") return json(404, { message: what === "project" ? "404 Project Not Found" : "404 Not found" });
  return json(404, { message: "The target couldn't be found.", url: `${web}/api/swagger`, errors: [] });
}

const repoId = (s: ForgeState, kind: FakeKind, repo: string) => s.repos[kind].indexOf(repo) + 1;

function render(s: ForgeState, p: FakePull): unknown {
  const id = s.pulls.indexOf(p) + 1;
  const owner = p.repo.split("/")[0];
  if (p.kind === "gitlab") {
    const pid = repoId(s, "gitlab", p.repo);
    return {
      id, iid: p.number, project_id: pid, title: p.title, description: p.body, state: p.state === "open" ? "opened" : "closed",
      source_branch: p.head, target_branch: p.base, source_project_id: pid, target_project_id: pid, draft: p.draft, work_in_progress: p.draft,
      web_url: `${s.web}/${p.repo}/-/merge_requests/${p.number}`, author: { username: "fake-bot" }, created_at: STAMP, updated_at: STAMP,
    };
  }
  const rid = repoId(s, p.kind, p.repo);
  const branch = (ref: string) =>
    p.kind === "github"
      ? { label: `${owner}:${ref}`, ref, sha: SHA, repo: { full_name: p.repo } }
      : { label: ref, ref, sha: SHA, repo_id: rid, repo: { full_name: p.repo } };
  const html = p.kind === "github" ? `${s.web}/${p.repo}/pull/${p.number}` : `${s.web}/${p.repo}/pulls/${p.number}`;
  return {
    id, number: p.number, state: p.state, title: p.title, body: p.body, draft: p.draft, html_url: html,
    url: p.kind === "github" ? `${s.web}${API_ROOT.github}/repos/${p.repo}/pulls/${p.number}` : html,
    user: { login: "fake-bot" }, head: branch(p.head), base: branch(p.base), merged: false, created_at: STAMP, updated_at: STAMP,
  };
}

function comment(s: ForgeState, p: FakePull, body: string): Response {
  s.comments.push({ kind: p.kind, repo: p.repo, number: p.number, body });
  const id = s.comments.length;
  if (p.kind === "gitlab") return json(201, { id, body, noteable_type: "MergeRequest", noteable_iid: p.number, author: { username: "fake-bot" }, system: false, created_at: STAMP });
  const page = p.kind === "github" ? "pull" : "pulls";
  return json(201, { id, body, html_url: `${s.web}/${p.repo}/${page}/${p.number}#issuecomment-${id}`, user: { login: "fake-bot" }, created_at: STAMP });
}

function page<T>(items: T[], query: URLSearchParams, sizeName: string, size: number, max: number): T[] {
  const n = Math.min(max, Math.max(1, Number(query.get(sizeName) ?? size) || size));
  const at = Math.max(1, Number(query.get("page") ?? 1) || 1);
  return items.slice((at - 1) * n, at * n);
}

function create(s: ForgeState, kind: FakeKind, repo: string, req: ParsedRequest): Response {
  const b = req.body;
  const names = kind === "gitlab" ? ["source_branch", "target_branch", "title"] : ["head", "base", "title"];
  const [head, base, title] = names.map((n) => str(b, n));
  if (!head || !base || !title) {
    const name = names.find((n) => !str(b, n));
    if (kind === "github") return json(422, { message: "Validation Failed", errors: [{ resource: "PullRequest", field: name, code: "missing_field" }], documentation_url: GH_DOCS, status: "422" });
    if (kind === "gitlab") return json(400, { error: `${name} is missing` });
    return json(422, { message: `[${name}]: Required`, url: `${s.web}/api/swagger` });
  }
  const dup = s.pulls.find((p) => p.kind === kind && p.repo === repo && p.state === "open" && p.head === head && p.base === base);
  if (dup) {
    const owner = repo.split("/")[0];
    if (kind === "github") {
      const errors = [{ resource: "PullRequest", code: "custom", message: `A pull request already exists for ${owner}:${head}.` }];
      return json(422, { message: "Validation Failed", errors, documentation_url: GH_DOCS, status: "422" });
    }
    if (kind === "gitlab") return json(409, { message: [`Another open merge request already exists for this source branch: !${dup.number}`] });
    const rid = repoId(s, kind, repo);
    const ids = `[id: ${s.pulls.indexOf(dup) + 1}, issue_id: ${dup.number}, head_repo_id: ${rid}, base_repo_id: ${rid}, head_branch: ${head}, base_branch: ${base}]`;
    return json(409, { message: `pull request already exists for these targets ${ids}`, url: `${s.web}/api/swagger` });
  }
  const draft = kind === "github" ? field(b, "draft") === true : kind === "gitlab" ? /^\s*(draft:|\[draft\]|\(draft\))/i.test(title) : /^\s*(wip:|\[wip\])/i.test(title);
  const pull = addPull(s, { kind, repo, title, body: str(b, kind === "gitlab" ? "description" : "body") ?? "", head, base, draft, state: "open" });
  return json(201, render(s, pull));
}

/** Stores a pull request with the repository's next number. */
export function addPull(s: ForgeState, p: Omit<FakePull, "number">): FakePull {
  const pull = { ...p, number: s.pulls.filter((x) => x.kind === p.kind && x.repo === p.repo).length + 1 };
  s.pulls.push(pull);
  return pull;
}

export function route(s: ForgeState, req: ParsedRequest): Response {
  const kind = KINDS.find((k) => req.path.startsWith(`${API_ROOT[k]}/`));
  if (!kind) return new Response("not found", { status: 404 });
  const token = presented(kind, req.headers);
  if (token !== s.token) return unauthorized(kind, token === "", s.web);
  const rest = req.path.slice(API_ROOT[kind].length);
  const m =
    kind === "gitlab"
      ? /^\/projects\/([^/]+)\/merge_requests(?:\/(\d+)(\/notes)?)?$/.exec(rest)
      : /^\/repos\/([^/]+\/[^/]+)\/(pulls|issues)(?:\/(\d+)(\/comments)?)?$/.exec(rest);
  if (!m) return notFound(kind, "item", s.web);
  const repo = decodeURIComponent(m[1] ?? "");
  if (!s.repos[kind].includes(repo)) return notFound(kind, "project", s.web);
  const [collection, num, sub] = kind === "gitlab" ? ["pulls", m[2], m[3]] : [m[2], m[3], m[4]];
  const mine = s.pulls.filter((p) => p.kind === kind && p.repo === repo);
  const method = req.method;
  if (num === undefined) {
    if (collection !== "pulls") return notFound(kind, "item", s.web);
    if (method === "POST") return create(s, kind, repo, req);
    if (method !== "GET") return json(405, { message: "Method Not Allowed" });
    const q = req.query;
    const state = q.get("state") ?? (kind === "gitlab" ? "all" : "open");
    const open = (p: FakePull) => (state === "all" ? true : kind === "gitlab" ? (state === "opened") === (p.state === "open") : state === p.state);
    let found = mine.filter(open).reverse();
    if (kind === "github") {
      // GitHub reads `head` only as "owner:branch"; anything else filters nothing.
      const head = /^([^:]+):(.+)$/.exec(q.get("head") ?? "");
      if (head) found = found.filter((p) => p.repo.split("/")[0] === head[1] && p.head === head[2]);
      if (q.get("base")) found = found.filter((p) => p.base === q.get("base"));
      return json(200, page(found, q, "per_page", 30, 100).map((p) => render(s, p)));
    }
    if (kind === "gitlab") {
      if (q.get("source_branch")) found = found.filter((p) => p.head === q.get("source_branch"));
      if (q.get("target_branch")) found = found.filter((p) => p.base === q.get("target_branch"));
      return json(200, page(found, q, "per_page", 20, 100).map((p) => render(s, p)));
    }
    return json(200, page(found, q, "limit", 30, 50).map((p) => render(s, p)));
  }
  const pull = mine.find((p) => p.number === Number(num));
  if (!pull) return notFound(kind, "item", s.web);
  const text = str(req.body, sub ? "body" : kind === "gitlab" ? "description" : "body");
  if (sub || collection === "issues") {
    if (!sub || method !== "POST") return notFound(kind, "item", s.web);
    if (text === undefined) return kind === "gitlab" ? json(400, { error: "body is missing" }) : json(422, { message: "Validation Failed", status: "422" });
    return comment(s, pull, text);
  }
  if (method !== (kind === "gitlab" ? "PUT" : "PATCH")) return json(405, { message: "Method Not Allowed" });
  if (text !== undefined) pull.body = text;
  const title = str(req.body, "title");
  if (title !== undefined) pull.title = title;
  // Gitea answers an edit with 201 (its own TODO says it should be 200).
  return json(kind === "gitea" ? 201 : 200, render(s, pull));
}

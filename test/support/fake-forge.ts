// A fake GitHub/GitLab/Gitea REST API on 127.0.0.1 for tests: the forges' documented shapes, every request recorded, faults scripted.
import { ForgeError } from "../../src/git/forge/types.ts";
import { addPull, API_ROOT, route, type FakeComment, type FakeKind, type FakePull, type ForgeState, type ParsedRequest } from "./fake-forge-routes.ts";

export type { FakeComment, FakeKind, FakePull } from "./fake-forge-routes.ts";

/** The ForgeError a call rejects with (anything else fails the test). */
export async function rejection(p: Promise<unknown>): Promise<ForgeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ForgeError) return err;
    throw err;
  }
  throw new Error("expected a ForgeError");
}

export interface RecordedRequest {
  method: string;
  /** As sent, still encoded (GitLab's project is one segment: group%2Fproject). */
  path: string;
  query: Record<string, string>;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Parsed JSON (the raw text when it is not JSON; null without a body). */
  body: unknown;
  /** Date.now() when it arrived. */
  at: number;
  /** What the client was answered; null while (or because) it hangs. */
  status: number | null;
}

/** Fails the next `times` requests that match `method` and `path`. */
export interface FakeFault {
  method?: string;
  /** Exact path (encoded, with the /api/vN root), or a pattern. */
  path?: string | RegExp;
  /** Default 1. */
  times?: number;
  /** Default 500. Any status works: 200 with a body answers a request falsely (a stale list). */
  status?: number;
  headers?: Record<string, string>;
  /** JSON-encoded unless a string; default empty. */
  body?: unknown;
  /** Never answer (until the client gives up and goes away). */
  hang?: boolean;
  /** Do the real work first, then answer with the fault (or hang): a create whose answer is lost. */
  afterHandling?: boolean;
}

export interface FakeForge {
  url: string;
  /** Where a kind's API lives on this server (GitHub Enterprise style /api/v3, GitLab /api/v4, Gitea /api/v1). */
  apiUrl(kind: FakeKind): string;
  requests: RecordedRequest[];
  pulls: FakePull[];
  comments: FakeComment[];
  fail(fault: FakeFault): void;
  /** Opens a pull request directly, as another run or a person would; `state: "closed"` for a closed one. */
  open(kind: FakeKind, repo: string, p: { head: string; base: string; title?: string; body?: string; draft?: boolean; state?: "open" | "closed" }): FakePull;
  stop(): Promise<void>;
}

function faultResponse(f: FakeFault): Response {
  const body = f.body === undefined ? "" : typeof f.body === "string" ? f.body : JSON.stringify(f.body);
  return new Response(body, { status: f.status ?? 500, headers: { "content-type": "application/json", ...f.headers } });
}

function matches(f: FakeFault, method: string, path: string): boolean {
  if (f.method && f.method.toUpperCase() !== method) return false;
  if (typeof f.path === "string") return f.path === path;
  return f.path ? f.path.test(path) : true;
}

/** `token`: the only credential it accepts. `repos`: what exists per kind (owner/repo; GitLab group/…/project). */
export function startFakeForge(opts: { token: string; repos: Partial<Record<FakeKind, string[]>> }): FakeForge {
  const requests: RecordedRequest[] = [];
  const faults: (FakeFault & { left: number })[] = [];
  const state: ForgeState = {
    token: opts.token,
    repos: { github: opts.repos.github ?? [], gitlab: opts.repos.gitlab ?? [], gitea: opts.repos.gitea ?? [] },
    pulls: [],
    comments: [],
    web: "",
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60,
    async fetch(req) {
      const url = new URL(req.url);
      const text = await req.text();
      let body: unknown = null;
      let badJson = false;
      if (text !== "") {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
          badJson = true;
        }
      }
      const record: RecordedRequest = {
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: Object.fromEntries(req.headers),
        body,
        at: Date.now(),
        status: null,
      };
      requests.push(record);
      const parsed: ParsedRequest = { method: req.method, path: url.pathname, query: url.searchParams, headers: req.headers, body };
      const handle = () => (badJson ? Response.json({ message: "Problems parsing JSON" }, { status: 400 }) : route(state, parsed));
      const fault = faults.find((f) => f.left > 0 && matches(f, req.method, url.pathname));
      let res: Response;
      if (!fault) res = handle();
      else {
        fault.left -= 1;
        if (fault.afterHandling) handle();
        if (fault.hang) {
          // Answers only once the client has gone, so nobody reads it.
          return new Promise<Response>((resolve) => req.signal.addEventListener("abort", () => resolve(new Response(null, { status: 499 })), { once: true }));
        }
        res = faultResponse(fault);
      }
      record.status = res.status;
      return res;
    },
  });

  const url = `http://127.0.0.1:${server.port}`;
  state.web = url;
  return {
    url,
    apiUrl: (kind) => `${url}${API_ROOT[kind]}`,
    requests,
    pulls: state.pulls,
    comments: state.comments,
    fail(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    open(kind, repo, p) {
      return addPull(state, { kind, repo, title: p.title ?? `work on ${p.head}`, body: p.body ?? "", head: p.head, base: p.base, draft: p.draft ?? false, state: p.state ?? "open" });
    },
    stop: () => server.stop(true),
  };
}

// Pull-request clients for GitHub, GitLab and Gitea against the fake forge on loopback: payloads, races, retries, limits, secrets.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { ForgeHttpOptions } from "../../src/git/forge/forge-http.ts";
import { forgeClient } from "../../src/git/forge/index.ts";
import { openOrUpdate } from "../../src/git/forge/pull-request.ts";
import type { ForgeClient } from "../../src/git/forge/types.ts";
import { rejection, startFakeForge, type FakeForge, type FakeKind } from "../support/fake-forge.ts";
import { waitFor } from "../support/wait.ts";

const TOKEN = "tok_forge_secret_4f9a";
const FAST: ForgeHttpOptions = { backoffMs: 5, timeoutMs: 5_000, maxAttempts: 4, maxRetryWaitMs: 5_000, userAgent: "ocs-test/1" };

interface Case {
  kind: FakeKind;
  repo: string;
  /** List and create. */
  pulls: string;
  update: (n: number) => { method: string; path: string };
  commentPath: (n: number) => string;
  authHeaders: (token: string) => Record<string, string>;
  createBody: (p: { head: string; base: string; title: string; body: string; draft: boolean }) => unknown;
  page: (n: number) => string;
  badToken: string;
  /** The request body field the description is in. */
  bodyField: string;
  draftTitle: (t: string) => string;
}

const CASES: Case[] = [
  {
    kind: "github",
    repo: "acme/app",
    pulls: "/api/v3/repos/acme/app/pulls",
    update: (n) => ({ method: "PATCH", path: `/api/v3/repos/acme/app/pulls/${n}` }),
    commentPath: (n) => `/api/v3/repos/acme/app/issues/${n}/comments`,
    authHeaders: (t) => ({ authorization: `Bearer ${t}`, accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28" }),
    createBody: (p) => ({ title: p.title, head: p.head, base: p.base, body: p.body, draft: p.draft }),
    page: (n) => `/acme/app/pull/${n}`,
    badToken: "Bad credentials",
    bodyField: "body",
    draftTitle: (t) => t,
  },
  {
    kind: "gitlab",
    repo: "group/sub/app",
    pulls: "/api/v4/projects/group%2Fsub%2Fapp/merge_requests",
    update: (n) => ({ method: "PUT", path: `/api/v4/projects/group%2Fsub%2Fapp/merge_requests/${n}` }),
    commentPath: (n) => `/api/v4/projects/group%2Fsub%2Fapp/merge_requests/${n}/notes`,
    authHeaders: (t) => ({ "private-token": t }),
    createBody: (p) => ({ source_branch: p.head, target_branch: p.base, title: p.draft ? `Draft: ${p.title}` : p.title, description: p.body }),
    page: (n) => `/group/sub/app/-/merge_requests/${n}`,
    badToken: "401 Unauthorized",
    bodyField: "description",
    draftTitle: (t) => `Draft: ${t}`,
  },
  {
    kind: "gitea",
    repo: "acme/app",
    pulls: "/api/v1/repos/acme/app/pulls",
    update: (n) => ({ method: "PATCH", path: `/api/v1/repos/acme/app/pulls/${n}` }),
    commentPath: (n) => `/api/v1/repos/acme/app/issues/${n}/comments`,
    authHeaders: (t) => ({ authorization: `token ${t}` }),
    createBody: (p) => ({ head: p.head, base: p.base, title: p.draft ? `WIP: ${p.title}` : p.title, body: p.body }),
    page: (n) => `/acme/app/pulls/${n}`,
    badToken: "invalid username, password or token",
    bodyField: "body",
    draftTitle: (t) => `WIP: ${t}`,
  },
];

const NEW = { head: "ocs/run-1", base: "main", title: "Add a greeting", body: "The agent's summary", draft: false };

describe.each(CASES)("$kind client", (c) => {
  let fake: FakeForge;
  const client = (token: string | null = TOKEN, opts: ForgeHttpOptions = FAST): ForgeClient =>
    forgeClient({ prefix: `${fake.url}/`, kind: c.kind, apiUrl: fake.apiUrl(c.kind) }, c.repo, token, opts);
  const paths = () => fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`);

  beforeEach(() => {
    fake = startFakeForge({ token: TOKEN, repos: { [c.kind]: [c.repo] } });
  });
  afterEach(() => fake.stop());

  test("create sends the documented payload and answers the number and web page", async () => {
    const pr = await client().create(NEW);
    expect(pr).toEqual({ number: 1, url: `${fake.url}${c.page(1)}` });
    expect(fake.requests.map((r) => ({ method: r.method, path: r.path, body: r.body }))).toEqual([{ method: "POST", path: c.pulls, body: c.createBody(NEW) }]);
    expect(fake.pulls).toEqual([{ kind: c.kind, repo: c.repo, number: 1, title: NEW.title, body: NEW.body, head: NEW.head, base: NEW.base, draft: false, state: "open" }]);
  });

  test("findOpen finds the open pull request from a head (into a base), and nothing else", async () => {
    fake.open(c.kind, c.repo, { head: "other", base: "main" });
    fake.open(c.kind, c.repo, { head: NEW.head, base: "main", state: "closed" });
    fake.open(c.kind, c.repo, { head: NEW.head, base: "main" });
    fake.open(c.kind, c.repo, { head: "more", base: "main" });
    const forge = client();
    expect(await forge.findOpen(NEW.head, "main")).toEqual({ number: 3, url: `${fake.url}${c.page(3)}` });
    expect(await forge.findOpen(NEW.head, null)).toEqual({ number: 3, url: `${fake.url}${c.page(3)}` });
    expect(await forge.findOpen(NEW.head, "release")).toBeNull();
    expect(await forge.findOpen("absent", null)).toBeNull();
    const first = fake.requests[0];
    expect(first?.method).toBe("GET");
    expect(first?.path).toBe(c.pulls);
    const expected: Record<FakeKind, Record<string, string>> = {
      github: { state: "open", head: `acme:${NEW.head}`, base: "main" },
      gitlab: { state: "opened", source_branch: NEW.head, target_branch: "main" },
      gitea: { state: "open", page: "1", limit: "50" },
    };
    expect(first?.query).toEqual(expected[c.kind]);
  });

  test("updateBody and comment change that pull request only", async () => {
    fake.open(c.kind, c.repo, { head: "other", base: "main", body: "untouched" });
    fake.open(c.kind, c.repo, { head: NEW.head, base: "main", body: "old" });
    const forge = client();
    await forge.updateBody(2, "new body");
    await forge.comment(2, "pushed again");
    expect(fake.pulls.map((p) => p.body)).toEqual(["untouched", "new body"]);
    expect(fake.comments).toEqual([{ kind: c.kind, repo: c.repo, number: 2, body: "pushed again" }]);
    expect(fake.requests.map((r) => ({ method: r.method, path: r.path, body: r.body }))).toEqual([
      { ...c.update(2), body: { [c.bodyField]: "new body" } },
      { method: "POST", path: c.commentPath(2), body: { body: "pushed again" } },
    ]);
  });

  test("openOrUpdate creates, then updates the same pull request (body and a comment), never a second one", async () => {
    const forge = client();
    const plan = { ...NEW, comment: "first comment" };
    expect(await openOrUpdate(forge, plan)).toEqual({ number: 1, url: `${fake.url}${c.page(1)}`, action: "created" });
    expect(fake.comments).toEqual([]);
    expect(await openOrUpdate(forge, { ...plan, body: "second body", comment: "pushed again" })).toEqual({ number: 1, url: `${fake.url}${c.page(1)}`, action: "updated" });
    expect(fake.pulls).toHaveLength(1);
    expect(fake.pulls[0]?.body).toBe("second body");
    expect(fake.comments).toEqual([{ kind: c.kind, repo: c.repo, number: 1, body: "pushed again" }]);
  });

  test("a create that meets one opened meanwhile (the forge's 'already exists') updates that one", async () => {
    fake.open(c.kind, c.repo, { head: NEW.head, base: NEW.base, body: "the other run's" });
    // The first lookup misses it, as when another run opens it just after.
    fake.fail({ method: "GET", path: c.pulls, status: 200, body: [] });
    const pr = await openOrUpdate(client(), { ...NEW, comment: "raced" });
    expect(pr).toEqual({ number: 1, url: `${fake.url}${c.page(1)}`, action: "updated" });
    const conflict = c.kind === "github" ? 422 : 409;
    expect(paths()).toEqual([`GET ${c.pulls} 200`, `POST ${c.pulls} ${conflict}`, `GET ${c.pulls} 200`, `${c.update(1).method} ${c.update(1).path} ${c.kind === "gitea" ? 201 : 200}`, `POST ${c.commentPath(1)} 201`]);
    expect(fake.pulls.map((p) => p.body)).toEqual([NEW.body]);
    expect(fake.comments.map((x) => x.body)).toEqual(["raced"]);
  });

  test("the 'already exists' answer is a ForgeError of kind already_exists with the forge's words", async () => {
    fake.open(c.kind, c.repo, { head: NEW.head, base: NEW.base });
    const err = await rejection(client().create(NEW));
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: c.kind === "github" ? 422 : 409, kind: "already_exists", retryable: false });
    const words: Record<FakeKind, string> = {
      github: "Validation Failed; A pull request already exists for acme:ocs/run-1.",
      gitlab: "Another open merge request already exists for this source branch: !1",
      gitea: "pull request already exists for these targets",
    };
    expect(err.message).toContain(words[c.kind]);
  });

  test("a draft is marked the forge's way", async () => {
    await client().create({ ...NEW, draft: true });
    expect(fake.requests[0]?.body).toEqual(c.createBody({ ...NEW, draft: true }));
    expect(fake.pulls[0]?.draft).toBe(true);
    expect(fake.pulls[0]?.title).toBe(c.draftTitle(NEW.title));
  });

  test("the token goes in the forge's own header; with none, no credential header at all", async () => {
    await client().findOpen(NEW.head, null);
    const sent = fake.requests[0]?.headers ?? {};
    for (const [name, value] of Object.entries(c.authHeaders(TOKEN))) expect(sent[name]).toBe(value);
    expect(sent["user-agent"]).toBe("ocs-test/1");
    expect(sent["content-type"]).toBe("application/json");
    if (c.kind === "gitlab") expect(sent.authorization).toBeUndefined();
    else expect(sent["private-token"]).toBeUndefined();
    const err = await rejection(client(null).findOpen(NEW.head, null));
    expect(err.status).toBe(401);
    const anonymous = fake.requests[1]?.headers ?? {};
    expect([anonymous.authorization, anonymous["private-token"]]).toEqual([undefined, undefined]);
  });

  test("502s are retried until an answer comes", async () => {
    fake.fail({ status: 502, times: 2, body: "<html><body><h1>502 Bad Gateway</h1></body></html>" });
    fake.open(c.kind, c.repo, { head: NEW.head, base: NEW.base });
    expect(await client().findOpen(NEW.head, NEW.base)).toEqual({ number: 1, url: `${fake.url}${c.page(1)}` });
    expect(paths()).toEqual([`GET ${c.pulls} 502`, `GET ${c.pulls} 502`, `GET ${c.pulls} 200`]);
  });

  test("Retry-After is honoured: the next attempt waits the seconds it names", async () => {
    fake.fail({ status: 429, headers: { "retry-after": "1" }, body: { message: "Too Many Requests" } });
    fake.open(c.kind, c.repo, { head: NEW.head, base: NEW.base });
    await client().updateBody(1, "x");
    const [first, second] = fake.requests;
    expect(fake.requests.map((r) => r.status)).toEqual([429, c.kind === "gitea" ? 201 : 200]);
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  test("a Retry-After beyond maxRetryWaitMs fails at once, saying when the forge allows the next request", async () => {
    fake.fail({ status: 429, headers: { "retry-after": "120" }, body: { message: "Too Many Requests" } });
    const started = Date.now();
    const err = await rejection(client().findOpen(NEW.head, null));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(fake.requests).toHaveLength(1);
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: 429, kind: "rate_limited", retryable: true });
    expect(err.retryAt).toBeGreaterThanOrEqual(started + 119_000);
    expect(err.message).toContain(`allows the next request at ${new Date(err.retryAt ?? 0).toISOString()}`);
    expect(err.message).toContain("Too Many Requests");
  });

  test("attempts are bounded: a forge that always answers 503 is asked exactly maxAttempts times", async () => {
    fake.fail({ status: 503, times: 100, body: { message: "Service Unavailable" } });
    fake.open(c.kind, c.repo, { head: NEW.head, base: NEW.base });
    const err = await rejection(client(TOKEN, { ...FAST, maxAttempts: 3 }).updateBody(1, "x"));
    expect(fake.requests).toHaveLength(3);
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: 503, kind: "http", retryable: true });
    expect(err.message).toContain("Service Unavailable (gave up after 3 attempts)");
  });

  test("a 4xx is not retried: 404 for an unknown repository, in the forge's words", async () => {
    const other = forgeClient({ prefix: `${fake.url}/`, kind: c.kind, apiUrl: fake.apiUrl(c.kind) }, c.kind === "gitlab" ? "group/missing" : "acme/missing", TOKEN, FAST);
    const err = await rejection(other.create(NEW));
    expect(fake.requests).toHaveLength(1);
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: 404, kind: "http", retryable: false });
    expect(err.message).toContain({ github: "Not Found", gitlab: "404 Project Not Found", gitea: "The target couldn't be found." }[c.kind]);
  });

  test("401: the forge's message, never the token — also where the forge or the network echoes it", async () => {
    const wrong = "tok_wrong_77c1d0e";
    const err = await rejection(client(wrong).findOpen(NEW.head, null));
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: 401, kind: "http", retryable: false });
    expect(err.message).toContain(c.badToken);
    expect(fake.requests).toHaveLength(1);

    fake.fail({ status: 401, body: { message: `token ${wrong} (${encodeURIComponent(`${wrong}/x`)}) is not valid here` } });
    const echoed = await rejection(client(wrong).comment(1, "x"));
    expect(echoed.message).toContain("token [REDACTED] ([REDACTED]%2Fx) is not valid here");
    expect(echoed.message).not.toContain(wrong);

    const broken = client(wrong, { ...FAST, maxAttempts: 2, fetch: () => Promise.reject(new Error(`connect ECONNREFUSED while sending ${wrong}`)) });
    const network = await rejection(broken.findOpen(NEW.head, null));
    expect({ status: network.status, kind: network.kind, retryable: network.retryable }).toEqual({ status: null, kind: "network", retryable: true });
    expect(network.message).toContain("connect ECONNREFUSED while sending [REDACTED]");
    expect(network.message).not.toContain(wrong);
  });

  test("a hanging forge times out (status null), and a retry after a hang succeeds", async () => {
    fake.fail({ hang: true });
    const started = Date.now();
    const err = await rejection(client(TOKEN, { ...FAST, timeoutMs: 300, maxAttempts: 1 }).findOpen(NEW.head, null));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: null, kind: "timeout", retryable: true });
    expect(err.message).toContain("no answer within 300 ms");

    fake.fail({ hang: true });
    expect(await client(TOKEN, { ...FAST, timeoutMs: 300 }).findOpen(NEW.head, null)).toBeNull();
    expect(fake.requests.map((r) => r.status)).toEqual([null, null, 200]);
  });

  test("aborting the caller's signal ends a wait between attempts at once", async () => {
    fake.fail({ status: 503, headers: { "retry-after": "30" } });
    const controller = new AbortController();
    const pending = rejection(client(TOKEN, { ...FAST, maxRetryWaitMs: 60_000, signal: controller.signal }).findOpen(NEW.head, null));
    await waitFor(() => fake.requests.length === 1, { what: "the first attempt" });
    const abortedAt = Date.now();
    controller.abort();
    const err = await pending;
    expect(Date.now() - abortedAt).toBeLessThan(1_000);
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: null, kind: "aborted", retryable: false });
    expect(fake.requests).toHaveLength(1);
  });

  test("a create whose answer is lost (502 after it was made) is found, not made twice", async () => {
    fake.fail({ method: "POST", path: c.pulls, afterHandling: true, status: 502 });
    const pr = await client().create(NEW);
    expect(pr).toEqual({ number: 1, url: `${fake.url}${c.page(1)}` });
    expect(fake.pulls).toHaveLength(1);
    expect(paths()).toEqual([`POST ${c.pulls} 502`, `GET ${c.pulls} 200`]);
  });

  test("a create that timed out after it was made is found; one that was not made is sent again", async () => {
    fake.fail({ method: "POST", path: c.pulls, afterHandling: true, hang: true });
    expect(await client(TOKEN, { ...FAST, timeoutMs: 300 }).create(NEW)).toEqual({ number: 1, url: `${fake.url}${c.page(1)}` });
    expect(paths()).toEqual([`POST ${c.pulls} null`, `GET ${c.pulls} 200`]);

    fake.requests.length = 0;
    fake.fail({ method: "POST", path: c.pulls, status: 500 });
    const second = await client().create({ ...NEW, head: "ocs/run-2" });
    expect(second.number).toBe(2);
    // Gitea's list has no head filter: a miss reads on to the first empty page.
    const lookups = c.kind === "gitea" ? [`GET ${c.pulls} 200`, `GET ${c.pulls} 200`] : [`GET ${c.pulls} 200`];
    expect(paths()).toEqual([`POST ${c.pulls} 500`, ...lookups, `POST ${c.pulls} 201`]);
    expect(fake.pulls).toHaveLength(2);
  });
});

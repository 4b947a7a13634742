// The forge request helper's finer points: GitHub's rate-limit signs, backoff, error texts, answers it refuses, Gitea's paging.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { forgeMessage, type ForgeHttpOptions } from "../../src/git/forge/forge-http.ts";
import { forgeClient } from "../../src/git/forge/index.ts";
import type { ForgeKind } from "../../src/git/forge/types.ts";
import { rejection, startFakeForge, type FakeForge } from "../support/fake-forge.ts";

const TOKEN = "tok_forge_secret_4f9a";
const FAST: ForgeHttpOptions = { backoffMs: 5, timeoutMs: 5_000, maxAttempts: 4, maxRetryWaitMs: 5_000 };
const REPOS = { github: ["acme/app"], gitlab: ["group/app"], gitea: ["acme/app"] };

let fake: FakeForge;
const client = (kind: ForgeKind, opts: ForgeHttpOptions = FAST, repo = REPOS[kind][0] ?? "") =>
  forgeClient({ prefix: `${fake.url}/`, kind, apiUrl: fake.apiUrl(kind) }, repo, TOKEN, opts);
const gaps = () => fake.requests.slice(1).map((r, i) => r.at - (fake.requests[i]?.at ?? 0));

beforeEach(() => {
  fake = startFakeForge({ token: TOKEN, repos: REPOS });
});
afterEach(() => fake.stop());

describe("GitHub's rate limits", () => {
  test("a secondary rate limit (403 with retry-after) is waited out", async () => {
    fake.fail({ status: 403, headers: { "retry-after": "1" }, body: { message: "You have exceeded a secondary rate limit and have been temporarily blocked from content creation." } });
    expect(await client("github").findOpen("x", null)).toBeNull();
    expect(fake.requests.map((r) => r.status)).toEqual([403, 200]);
    expect(gaps()[0]).toBeGreaterThanOrEqual(950);
  });

  test("an exhausted primary limit (x-ratelimit-remaining 0) waits for x-ratelimit-reset", async () => {
    const reset = Math.ceil(Date.now() / 1000) + 1;
    fake.fail({ status: 403, headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(reset) }, body: { message: "API rate limit exceeded for user ID 1." } });
    expect(await client("github").findOpen("x", null)).toBeNull();
    expect(fake.requests[1]?.at).toBeGreaterThanOrEqual(reset * 1000 - 20);
  });

  test("a Retry-After given as an HTTP date is waited until", async () => {
    const until = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
    fake.fail({ status: 429, headers: { "retry-after": until.toUTCString() } });
    expect(await client("gitlab").findOpen("x", null)).toBeNull();
    expect(fake.requests[1]?.at).toBeGreaterThanOrEqual(until.getTime() - 20);
  });

  test("a secondary rate limit naming no time asks for a minute: beyond maxRetryWaitMs it fails at once", async () => {
    fake.fail({ status: 403, body: { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again." } });
    const started = Date.now();
    const err = await rejection(client("github", { ...FAST, maxRetryWaitMs: 1_000 }).create({ head: "h", base: "main", title: "t", body: "b", draft: false }));
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: 403, kind: "rate_limited", retryable: true });
    expect(err.retryAt).toBeGreaterThanOrEqual(started + 59_000);
    expect(err.message).toContain("(in 60 s)");
    // A rate limit refuses the request unprocessed: no lookup for a create that might have happened.
    expect(fake.requests).toHaveLength(1);
  });

  test("a 403 without a rate limit's signs is a permission error: not retried", async () => {
    fake.fail({ status: 403, body: { message: "Resource not accessible by personal access token", documentation_url: "https://docs.github.com/rest", status: "403" } });
    const err = await rejection(client("github").comment(1, "x"));
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: 403, kind: "http", retryable: false });
    expect(err.message).toBe("GitHub POST /repos/acme/app/issues/1/comments: HTTP 403: Resource not accessible by personal access token");
    expect(fake.requests).toHaveLength(1);
  });
});

test("without a named wait, the backoff doubles from backoffMs with ±50 % jitter", async () => {
  fake.fail({ status: 500, times: 2 });
  expect(await client("gitea", { ...FAST, backoffMs: 200 }).findOpen("x", null)).toBeNull();
  const [first, second] = gaps();
  expect(first).toBeGreaterThanOrEqual(95);
  expect(first).toBeLessThan(400);
  expect(second).toBeGreaterThanOrEqual(195);
  expect(second).toBeLessThan(800);
});

describe("the forge's words in errors", () => {
  test.each([
    ['{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"head","code":"invalid"},{"message":"No commits between main and x"}]}', "Validation Failed; PullRequest head invalid; No commits between main and x"],
    ['{"message":["Another open merge request already exists for this source branch: !1"]}', "Another open merge request already exists for this source branch: !1"],
    ['{"message":{"title":["can\'t be blank"],"source_branch":["is invalid","is missing"]}}', "title can't be blank; source_branch is invalid, is missing"],
    ['{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}', "invalid_token: Token was revoked. You have to re-authorize from the user."],
    ['{"error":"title is missing"}', "title is missing"],
    ['{"message":"The target couldn\'t be found.","url":"https://gitea.example/api/swagger","errors":[]}', "The target couldn't be found."],
    ["<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>", "502 Bad Gateway 502 Bad Gateway"],
    ['"plain string"', "plain string"],
  ])("%s → %p", (body, expected) => {
    expect(forgeMessage(body)).toBe(expected);
  });

  test("clipped to 500 characters, scrubbed before clipping so no piece of the token survives", async () => {
    // The clip falls inside where the token was: "HTTP 400: " + 485 characters + 5 more.
    fake.fail({ status: 400, body: { message: `${"x".repeat(485)}${TOKEN}${"y".repeat(1000)}` } });
    const err = await rejection(client("gitea").findOpen("x", null));
    const detail = err.message.slice(err.message.indexOf("HTTP 400: "));
    expect(detail).toBe(`HTTP 400: ${"x".repeat(485)}[REDA`);
    expect(err.message).not.toContain(TOKEN.slice(0, 5));
  });
});

describe("answers refused", () => {
  test("a success whose body is not the forge's documented shape is invalid_answer (not retried)", async () => {
    fake.fail({ method: "POST", status: 201, body: { html_url: "https://x.example/1" } });
    const err = await rejection(client("github").create({ head: "h", base: "main", title: "t", body: "b", draft: false }));
    expect({ status: err.status, kind: err.kind, retryable: err.retryable }).toEqual({ status: 201, kind: "invalid_answer", retryable: false });
    expect(err.message).toContain("number");
    expect(fake.requests).toHaveLength(1);
  });

  test("a page link that is not http(s) is refused", async () => {
    fake.fail({ method: "GET", status: 200, body: [{ iid: 1, web_url: "javascript:alert(1)", state: "opened", source_branch: "h", target_branch: "main" }] });
    expect((await rejection(client("gitlab").findOpen("h", "main"))).kind).toBe("invalid_answer");
  });

  test("a redirect is not followed (the token would go with it)", async () => {
    fake.fail({ status: 307, headers: { location: "https://elsewhere.example/api" } });
    const err = await rejection(client("gitea").updateBody(1, "b"));
    expect({ status: err.status, kind: err.kind }).toEqual({ status: 307, kind: "http" });
    expect(err.message).toContain("redirected to https://elsewhere.example/api (not followed)");
    expect(fake.requests).toHaveLength(1);
  });

  test("a signal aborted before the request sends nothing", async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await rejection(client("gitlab", { ...FAST, signal: controller.signal }).findOpen("h", null));
    expect(err.kind).toBe("aborted");
    expect(fake.requests).toHaveLength(0);
  });

  test("repository paths and numbers no forge accepts are refused before sending", async () => {
    expect(() => client("github", FAST, "acme/special/app")).toThrow(/not owner\/repo/);
    expect(() => client("gitea", FAST, "acme")).toThrow(/not owner\/repo/);
    expect(() => client("gitlab", FAST, "solo")).toThrow(/not group\/project/);
    expect((await rejection(client("gitlab").updateBody(0, "b"))).kind).toBe("invalid_request");
    expect((await rejection(client("github").comment(1.5, "b"))).message).toContain("not a positive integer");
    expect(fake.requests).toHaveLength(0);
  });
});

describe("Gitea's paging", () => {
  test("reads on to a later page and stops at the first empty one", async () => {
    fake.open("gitea", "acme/app", { head: "target", base: "main" });
    for (let i = 0; i < 60; i++) fake.open("gitea", "acme/app", { head: `other-${i}`, base: "main" });
    expect(await client("gitea").findOpen("target", "main")).toEqual({ number: 1, url: `${fake.url}/acme/app/pulls/1` });
    expect(fake.requests.map((r) => r.query.page)).toEqual(["1", "2"]);
    fake.requests.length = 0;
    expect(await client("gitea").findOpen("absent", null)).toBeNull();
    expect(fake.requests.map((r) => r.query.page)).toEqual(["1", "2", "3"]);
  });

  test("searches at most 20 pages", async () => {
    fake.open("gitea", "acme/app", { head: "target", base: "main" });
    for (let i = 0; i < 20 * 50; i++) fake.open("gitea", "acme/app", { head: `other-${i}`, base: "main" });
    expect(await client("gitea").findOpen("target", "main")).toBeNull();
    expect(fake.requests).toHaveLength(20);
  });
});

// Pull requests with the real opencode CLI, a real git server and a loopback forge that speaks GitHub's, GitLab's and Gitea's documented APIs.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { shortRunId } from "../../src/runs/ids.ts";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { startFakeForge, type FakeForge } from "../support/fake-forge.ts";
import { startGitServer, type GitServer } from "../support/git-server.ts";
import { readJson } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const GIT_TOKEN = "canary-forge-token-5e2b91c4";
const PUBLIC_URL = "https://agents.example.com";

let llm: FakeLlm;
let git: GitServer;
let forge: FakeForge;
let s: TestServer;

beforeAll(async () => {
  llm = startFakeLlm();
  git = startGitServer({ token: GIT_TOKEN });
  forge = startFakeForge({ token: GIT_TOKEN, repos: { github: ["gh-org/app"], gitlab: ["gl-group/sub/app"], gitea: ["gt-org/app"] } });
  for (const name of ["gh-org/app", "gl-group/sub/app", "gt-org/app", "plain/app"]) await git.createRepo(name, { private: true, files: { "README.md": "# app\n" } });
  const forges = [`${git.url}/gh-org/=github:${forge.apiUrl("github")}`, `${git.url}/gl-group/=gitlab:${forge.apiUrl("gitlab")}`, `${git.url}/gt-org/=gitea:${forge.apiUrl("gitea")}`];
  s = await startTestServer(opencodeServerEnv(llm, { GIT_TOKEN, ALLOWED_REPO_PREFIXES: `${git.url}/`, FORGES: forges.join(","), PUBLIC_URL, MAX_EXECUTION_TIME: "30s", MAX_CONCURRENT_RUNS: "2" }));
});

afterAll(async () => {
  await s?.stop();
  await forge?.stop();
  await git?.stop();
  await llm?.stop();
});

async function run(body: Record<string, unknown>) {
  const res = await fetch(`${s.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await readJson(res) };
}

const writes = (file: string, said: string) => fakeScript({ bash: `echo '${file} content' > ${file}` }, { text: said });

test("GitHub: a pushed branch becomes a pull request whose body says what the agent did; a follow-up updates it and comments", async () => {
  const first = await run({ prompt: `Add notes\n${writes("NOTES.md", "Added NOTES.md with the meeting notes.")}`, repository: git.repoUrl("gh-org/app"), pull_request: true });
  expect(first.status).toBe(200);
  const id = String(first.body.run_id);
  const branch = `opencode/${shortRunId(id)}`;
  const pr = forge.pulls.find((p) => p.repo === "gh-org/app");
  expect(first.body).toMatchObject({ success: true, branch, pushed: true, files_changed: ["NOTES.md"], pull_request: { url: expect.stringContaining("/gh-org/app/pull/1"), number: 1, action: "created" } });
  expect(first.body.pull_request_note).toBeUndefined();
  expect(pr).toMatchObject({ kind: "github", number: 1, title: "Add notes", head: branch, base: "main", draft: false, state: "open" });
  for (const part of ["Added NOTES.md with the meeting notes.", "`NOTES.md`", `\`${id}\``, `${PUBLIC_URL}/runs/${id}`, "**Model**", "**cost** $"]) expect(pr?.body).toContain(part);
  const calls = forge.requests.filter((r) => r.path.startsWith("/api/v3/"));
  expect(calls.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/v3/repos/gh-org/app/pulls", "POST /api/v3/repos/gh-org/app/pulls"]);
  expect(calls.every((r) => r.headers.authorization === `Bearer ${GIT_TOKEN}` && r.headers["x-github-api-version"] === "2022-11-28")).toBe(true);
  expect(await git.head("gh-org/app", branch)).toBe(String(first.body.commit));

  const next = await run({ continue: id, prompt: `Add todo\n${writes("TODO.md", "Added TODO.md next to the notes.")}` });
  expect(next.status).toBe(200);
  expect(next.body).toMatchObject({ success: true, branch, pushed: true, files_changed: ["TODO.md"], pull_request: { url: first.body.pull_request && (first.body.pull_request as { url: string }).url, number: 1, action: "updated" } });
  expect(forge.pulls.filter((p) => p.repo === "gh-org/app").length).toBe(1);
  expect(forge.pulls.find((p) => p.repo === "gh-org/app")?.body).toContain(String(next.body.run_id));
  const comments = forge.comments.filter((c) => c.repo === "gh-org/app");
  expect(comments.length).toBe(1);
  expect(comments[0]?.body).toContain("Added TODO.md next to the notes.");
  const view = await readJson(await fetch(`${s.url}/runs/${String(next.body.run_id)}`));
  expect(view.pull_request).toEqual({ title: null, body: null, draft: false, base: null });
  const events = await (await fetch(`${s.url}/runs/${String(next.body.run_id)}/events`)).text();
  expect(events).toContain('"action":"pull_request"');
  expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/opencode_server_pull_requests_total\{result="updated"\} 1/);
});

test("GitLab: a draft merge request with its own title, opened after the forge's 429 with Retry-After", async () => {
  forge.fail({ method: "POST", path: /merge_requests$/, status: 429, headers: { "retry-after": "1" }, body: { message: "429 Too Many Requests" } });
  const res = await run({ prompt: `Fix it\n${writes("FIX.md", "Fixed.")}`, repository: git.repoUrl("gl-group/sub/app"), pull_request: { title: "Custom title", draft: true, base: "main" } });
  expect(res.status).toBe(200);
  expect(res.body.pull_request).toEqual({ url: expect.stringContaining("merge_requests/1"), number: 1, action: "created" });
  expect(forge.pulls.find((p) => p.kind === "gitlab")).toMatchObject({ repo: "gl-group/sub/app", title: "Draft: Custom title", base: "main", head: res.body.branch });
  const posts = forge.requests.filter((r) => r.method === "POST" && r.path === "/api/v4/projects/gl-group%2Fsub%2Fapp/merge_requests");
  expect(posts.map((r) => r.status)).toEqual([429, 201]);
  expect((posts[1]?.at ?? 0) - (posts[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
  expect(posts.every((r) => r.headers["private-token"] === GIT_TOKEN)).toBe(true);
});

test("Gitea: the forge refuses the pull request — 502 pull_request_failed with its message (no token), the push stands", async () => {
  forge.fail({ method: "POST", path: /\/pulls$/, times: 10, status: 422, body: { message: `branch rules forbid it (${GIT_TOKEN})`, url: "http://gitea/api/swagger" } });
  const res = await run({ prompt: `Doc\n${writes("DOC.md", "Documented.")}`, repository: git.repoUrl("gt-org/app"), pull_request: true });
  expect(res.status).toBe(502);
  expect(res.body).toMatchObject({ success: false, code: "pull_request_failed", pushed: true, files_changed: ["DOC.md"] });
  expect(String(res.body.error)).toContain("branch rules forbid it ([REDACTED])");
  expect(JSON.stringify(res.body)).not.toContain(GIT_TOKEN);
  expect(await git.head("gt-org/app", String(res.body.branch))).toBe(String(res.body.commit));
  expect(forge.pulls.filter((p) => p.kind === "gitea")).toEqual([]);
  expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/opencode_server_pull_requests_total\{result="failed"\} 1/);
});

test("refused before anything runs: push: false with pull_request, a repository no forge serves, pull_request without a repository", async () => {
  const before = llm.requests.length;
  const cases = [
    [{ prompt: "x", repository: git.repoUrl("gh-org/app"), push: false, pull_request: true }, "needs push"],
    [{ prompt: "x", repository: git.repoUrl("plain/app"), pull_request: true }, "no forge is known"],
    [{ prompt: "x", pull_request: true }, "requires repository"],
    [{ prompt: "x", repository: git.repoUrl("gh-org/app"), pull_request: { base: "../main" } }, "pull_request.base"],
    [{ prompt: "x", repository: git.repoUrl("gh-org/app"), pull_request: { labels: ["x"] } }, "labels"],
  ] as const;
  for (const [body, says] of cases) {
    const res = await run(body);
    expect([res.status, res.body.code, String(res.body.field).split(".")[0]]).toEqual([400, "invalid_request", "pull_request"]);
    expect(String(res.body.error)).toContain(says);
  }
  expect(llm.requests.length).toBe(before);
});

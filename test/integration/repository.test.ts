// Repository runs with the real opencode CLI (fake LLM) against a real git smart-HTTP server on loopback.
import { shortRunId } from "../../src/runs/ids.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { startGitServer, type GitServer } from "../support/git-server.ts";
import { readJson } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { processesRunning } from "../support/procs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { waitFor, settledDir } from "../support/wait.ts";

const GIT_TOKEN = "canary-git-token-0b9e4c2a";
const GITHUB_TOKEN = "canary-github-token-71d3a8";
const API_KEY = "canary-api-key-repo-55aa11";
const CANARIES = [GIT_TOKEN, GITHUB_TOKEN, API_KEY];

let llm: FakeLlm;
let git: GitServer;
let s: TestServer;
let env: Record<string, string>;
let hurried: TestServer;
let hurriedEnv: Record<string, string>;

beforeAll(async () => {
  llm = startFakeLlm();
  git = startGitServer({ token: GIT_TOKEN });
  await git.createRepo("app", { private: true, files: { "README.md": "# app\n", "src/main.ts": "export {};\n" }, branches: { release: { "CHANGELOG.md": "v1\n" } } });
  env = opencodeServerEnv(llm, { API_KEY, GIT_TOKEN, GITHUB_TOKEN, ALLOWED_REPO_PREFIXES: `${git.url}/` });
  s = await startTestServer(env);
  hurriedEnv = opencodeServerEnv(llm, { API_KEY, GIT_TOKEN, ALLOWED_REPO_PREFIXES: `${git.url}/`, MAX_EXECUTION_TIME: "15s" });
  hurried = await startTestServer(hurriedEnv);
});

afterAll(async () => {
  await s?.stop();
  await hurried?.stop();
  await git?.stop();
  await llm?.stop();
});

async function run(body: Record<string, unknown>, server: TestServer = s) {
  const res = await fetch(`${server.url}/run`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await readJson(res) };
}

function lastToolOutput(): string {
  const tools = llm.requests.flatMap((r) => (r.body.messages ?? []).filter((m) => m.role === "tool").map((m) => String(m.content)));
  return tools.at(-1) ?? "";
}

test("clone → the agent writes a file → commit → push, read back from the bare repository; no secret leaks anywhere", async () => {
  const prompt = `Add a greeting\n${fakeScript(
    { bash: "echo 'hello from the agent' > GREETING.md && cat .git/config && env | sort" },
    { text: "Added GREETING.md" },
  )}`;
  const main = await git.head("app", "main");
  const { status, body } = await run({ prompt, repository: git.repoUrl("app") });
  expect(status).toBe(200);
  const branch = `opencode/${shortRunId(String(body.run_id))}`;
  expect(body).toMatchObject({
    success: true,
    output: "Added GREETING.md",
    repository: git.repoUrl("app"),
    branch,
    commit: await git.head("app", branch),
    base_branch: "main",
    base_commit: main,
    changed: true,
    files_changed: ["GREETING.md"],
    pushed: true,
    push_note: null,
    tools: [{ tool: "bash", status: "completed", title: "echo 'hello from the agent' > GREETING.md && cat .git/config && env | sort", error: null, denied: false }],
  });
  expect(await git.git("app", "show", `${branch}:GREETING.md`)).toBe("hello from the agent\n");
  expect(await git.git("app", "log", "-1", "--format=%an|%s", branch)).toBe("opencode-server|Add a greeting\n");

  // What the agent saw: a normal clone whose config has no credentials, and an environment without the server's secrets.
  const seen = lastToolOutput();
  expect(seen).toContain(`url = ${git.repoUrl("app")}`);
  expect(seen).toMatch(/^GIT_AUTHOR_NAME=opencode-server$/m);
  for (const name of ["GIT_TOKEN", "GITHUB_TOKEN", "API_KEY", "OCS_GIT_TOKEN", "GIT_CONFIG_COUNT"]) expect(seen).not.toMatch(new RegExp(`^${name}=`, "m"));
  for (const canary of CANARIES) {
    expect(seen).not.toContain(canary);
    expect(JSON.stringify(body)).not.toContain(canary);
    expect(s.logs.join("\n")).not.toContain(canary);
  }
  expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
});

test("an explicit existing branch gets the commit on top; the push is rejected when someone pushed meanwhile, and the work lands on a fallback branch", async () => {
  // While the agent works, someone else moves release on the server.
  const pause = `sleep 3.${process.pid}`;
  const prompt = `Update the changelog\n${fakeScript({ bash: `${pause}; echo v2 >> CHANGELOG.md` }, { text: "Updated" })}`;
  const before = await git.head("app", "release");
  const pending = run({ prompt, repository: git.repoUrl("app"), branch: "release" });
  await waitFor(() => processesRunning(pause).length > 0, { what: "the agent's tool", timeoutMs: 60_000 });
  const concurrent = await git.git("app", "commit-tree", "-p", before as string, "-m", "concurrent", `${before}^{tree}`);
  await git.git("app", "update-ref", "refs/heads/release", concurrent.trim(), before as string);
  const { status, body } = await pending;
  expect(status).toBe(200);
  const fallback = `release-${shortRunId(String(body.run_id))}`;
  expect(body).toMatchObject({
    branch: fallback,
    base_branch: "release",
    base_commit: before,
    pushed: true,
    changed: true,
    files_changed: ["CHANGELOG.md"],
    push_note: `Push to "release" was rejected (fetch first); the commit was pushed to "${fallback}" instead`,
  });
  expect(await git.git("app", "show", `${fallback}:CHANGELOG.md`)).toBe("v1\nv2\n");
  expect((await git.git("app", "rev-parse", `${fallback}^`)).trim()).toBe(before as string);
  expect(await git.head("app", "release")).toBe(concurrent.trim());
});

test("two concurrent runs on the same repository do not interfere", async () => {
  const prompts = ["one", "two"].map((n) => `Write ${n}\n${fakeScript({ bash: `echo ${n} > ${n}.txt` }, { text: `wrote ${n}` })}`);
  const results = await Promise.all(prompts.map((prompt) => run({ prompt, repository: git.repoUrl("app") })));
  for (const [i, name] of ["one", "two"].entries()) {
    const { status, body } = results[i] as { status: number; body: Record<string, unknown> };
    expect(status).toBe(200);
    expect(body).toMatchObject({ output: `wrote ${name}`, pushed: true, files_changed: [`${name}.txt`] });
    expect(await git.git("app", "show", `${body.branch}:${name}.txt`)).toBe(`${name}\n`);
    expect(await git.git("app", "ls-tree", "--name-only", String(body.branch))).not.toContain(name === "one" ? "two.txt" : "one.txt");
  }
  expect(results[0]?.body.branch).not.toBe(results[1]?.body.branch);
  expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
});

test("a run that times out keeps its partial work: committed as WIP and pushed; nothing survives", async () => {
  const cmd = `sleep 311.${process.pid}`;
  const prompt = `Big refactor\n${fakeScript({ bash: `echo partial > PARTIAL.md; ${cmd}`, timeout: 600_000 })}`;
  const { status, body } = await run({ prompt, repository: git.repoUrl("app") }, hurried);
  expect(status).toBe(408);
  const branch = `opencode/${shortRunId(String(body.run_id))}`;
  expect(body).toMatchObject({
    code: "timeout",
    branch,
    changed: true,
    pushed: true,
    files_changed: ["PARTIAL.md"],
    push_note: `The run did not finish (timeout); its partial work was pushed to "${branch}"`,
  });
  expect(await git.git("app", "log", "-1", "--format=%s", branch)).toBe("WIP: Big refactor\n");
  expect(processesRunning(cmd)).toEqual([]);
  expect(await settledDir(hurriedEnv.WORK_DIR as string)).toEqual([]);
});

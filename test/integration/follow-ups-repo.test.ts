// Follow-ups of repository runs with the real opencode CLI and a real git server: the agent sees its earlier work — pushed, kept, or partial.
import { settledDir } from "../support/wait.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { shortRunId } from "../../src/runs/ids.ts";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import path from "node:path";
import { git as gitIn, startGitServer, type GitServer } from "../support/git-server.ts";
import { readJson } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { processesRunning } from "../support/procs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { tempDir } from "../support/temp.ts";

const GIT_TOKEN = "canary-git-token-follow-9c1d";

let llm: FakeLlm;
let git: GitServer;
let s: TestServer;
let env: Record<string, string>;

beforeAll(async () => {
  llm = startFakeLlm();
  git = startGitServer({ token: GIT_TOKEN });
  await git.createRepo("app", { private: true, files: { "README.md": "# app\n" } });
  env = opencodeServerEnv(llm, { GIT_TOKEN, ALLOWED_REPO_PREFIXES: `${git.url}/`, MAX_EXECUTION_TIME: "15s", MAX_CONCURRENT_RUNS: "2" });
  s = await startTestServer(env);
});

afterAll(async () => {
  await s?.stop();
  await git?.stop();
  await llm?.stop();
});

async function run(body: Record<string, unknown>) {
  const res = await fetch(`${s.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await readJson(res) };
}

/** The output the tool call of the latest request whose chat has `marker` in its last user message returned. */
function toolOutputAfter(marker: string): string {
  const mine = llm.requests.filter((r) => JSON.stringify(r.body.messages?.filter((m) => m.role === "user").at(-1)?.content ?? "").includes(marker));
  const tools = mine.flatMap((r) => (r.body.messages ?? []).filter((m) => m.role === "tool").map((m) => String(m.content)));
  return tools.at(-1) ?? "";
}

test("a follow-up of a pushed run works on the branch it delivered to: it sees its file, and its commit follows the earlier one", async () => {
  const first = await run({ prompt: `Write notes\n${fakeScript({ bash: "echo 'first notes' > NOTES.md" }, { text: "wrote notes" })}`, repository: git.repoUrl("app") });
  expect(first.status).toBe(200);
  const branch = `opencode/${shortRunId(String(first.body.run_id))}`;
  expect(first.body).toMatchObject({ branch, pushed: true, files_changed: ["NOTES.md"] });
  const marker = `seen-${process.pid}`;
  const next = await run({ continue: first.body.run_id, prompt: `${marker}\n${fakeScript({ bash: "cat NOTES.md && echo 'second notes' >> NOTES.md" }, { text: "appended" })}` });
  expect(next.status).toBe(200);
  expect(toolOutputAfter(marker)).toBe("first notes\n");
  expect(next.body).toMatchObject({
    success: true,
    repository: git.repoUrl("app"),
    branch,
    base_branch: branch,
    base_commit: first.body.commit,
    pushed: true,
    files_changed: ["NOTES.md"],
    parent_run_id: first.body.run_id,
  });
  expect(await git.git("app", "show", `${branch}:NOTES.md`)).toBe("first notes\nsecond notes\n");
  expect((await git.git("app", "rev-parse", `${branch}^`)).trim()).toBe(String(first.body.commit));
});

test("push: false — the follow-up starts from the commit the server kept, and its patch is its own change", async () => {
  const first = await run({ prompt: `Draft\n${fakeScript({ bash: "echo draft > DRAFT.md" }, { text: "drafted" })}`, repository: git.repoUrl("app"), push: false });
  expect(first.status).toBe(200);
  expect(first.body).toMatchObject({ pushed: false, changed: true, files_changed: ["DRAFT.md"] });
  const branch = String(first.body.branch);
  expect(await git.head("app", branch)).toBeNull();
  const marker = `kept-${process.pid}`;
  const next = await run({ continue: first.body.run_id, prompt: `${marker}\n${fakeScript({ bash: "cat DRAFT.md && echo final > FINAL.md" }, { text: "finished" })}` });
  expect(next.status).toBe(200);
  expect(toolOutputAfter(marker)).toBe("draft\n");
  expect(next.body).toMatchObject({ success: true, branch, base_commit: first.body.commit, pushed: false, files_changed: ["FINAL.md"] });
  expect(String(next.body.patch)).toContain("+final");
  expect(String(next.body.patch)).not.toContain("DRAFT.md");
  // A run that changes nothing keeps the commits it started from for the next one.
  const idle = await run({ continue: next.body.run_id, prompt: fakeScript({ text: "nothing to add" }) });
  expect(idle.body).toMatchObject({ success: true, branch, pushed: false, changed: false, commit: next.body.commit });
  // A run with push: true delivers the kept commits, though it changes nothing itself.
  const third = await run({ continue: idle.body.run_id, push: true, prompt: fakeScript({ text: "nothing more" }) });
  expect(third.status).toBe(200);
  expect(third.body).toMatchObject({ branch, pushed: true, changed: false, files_changed: [], commit: next.body.commit });
  expect(await git.head("app", branch)).toBe(String(next.body.commit));
  expect(await git.git("app", "show", `${branch}:DRAFT.md`)).toBe("draft\n");
  expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
});

test("a follow-up of a timed-out run starts from its partial work (pushed for it), and no process of either is left", async () => {
  const cmd = `sleep 349.${process.pid}`;
  const first = await run({ prompt: `Start the work\n${fakeScript({ bash: `echo partial > PARTIAL.md && ${cmd}`, timeout: 600_000 })}`, repository: git.repoUrl("app") });
  expect(first.status).toBe(408);
  expect(first.body).toMatchObject({ code: "timeout", pushed: true, files_changed: ["PARTIAL.md"] });
  expect(processesRunning(cmd)).toEqual([]);
  const marker = `partial-${process.pid}`;
  const next = await run({ continue: first.body.run_id, prompt: `${marker}\n${fakeScript({ bash: "cat PARTIAL.md" }, { text: "resumed" })}` });
  expect(next.status).toBe(200);
  expect(toolOutputAfter(marker)).toBe("partial\n");
  expect(next.body).toMatchObject({ success: true, branch: first.body.branch, base_commit: first.body.commit, changed: false });
});

test("kept commits on a shallow clone (REPO_CACHE=false, depth 1) whose base moved on: the commit they build on is fetched first", async () => {
  await git.createRepo("moving", { files: { "README.md": "# moving\n" } });
  const shallowEnv = opencodeServerEnv(llm, { GIT_TOKEN, ALLOWED_REPO_PREFIXES: `${git.url}/`, REPO_CACHE: "false", GIT_CLONE_DEPTH: "1" });
  const shallow = await startTestServer(shallowEnv);
  try {
    const post = async (body: Record<string, unknown>) => {
      const res = await fetch(`${shallow.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, body: await readJson(res) };
    };
    const first = await post({ prompt: fakeScript({ bash: "echo kept > KEPT.md" }, { text: "kept" }), repository: git.repoUrl("moving"), push: false });
    expect(first.body).toMatchObject({ success: true, pushed: false, changed: true });
    // Someone pushes to main meanwhile: a depth-1 clone of main no longer holds the commit the kept work builds on.
    const work = tempDir("ocs-moving-");
    await gitIn(work, "clone", "--quiet", path.join(git.root, "moving.git"), "c");
    await gitIn(path.join(work, "c"), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "--allow-empty", "-m", "moved on");
    await gitIn(path.join(work, "c"), "push", "--quiet", "origin", "main");
    const marker = `shallow-${process.pid}`;
    const next = await post({ continue: first.body.run_id, prompt: `${marker}\n${fakeScript({ bash: "cat KEPT.md" }, { text: "seen" })}` });
    expect(next).toMatchObject({ status: 200, body: { success: true, base_commit: first.body.commit } });
    expect(toolOutputAfter(marker)).toBe("kept\n");
  } finally {
    await shallow.stop();
  }
});

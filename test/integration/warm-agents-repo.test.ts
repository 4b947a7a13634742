// A repository run through a warm agent (real opencode, real bwrap, the mirror cache on): its sandbox was made before the clone, so its workspace stands alone.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { startGitServer, type GitServer } from "../support/git-server.ts";
import { readFileSync } from "node:fs";
import { readJson } from "../support/http.ts";
import { processesMatching } from "../support/procs.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const GIT_TOKEN = "canary-git-token-warm-7d21";
let llm: FakeLlm;
let git: GitServer;
let s: TestServer;
let workDir: string;

beforeAll(async () => {
  llm = startFakeLlm();
  git = startGitServer({ token: GIT_TOKEN });
  await git.createRepo("app", { private: true, files: { "README.md": "# app\n" } });
  const env = opencodeServerEnv(llm, { SANDBOX: "bwrap", WARM_AGENTS: "1", GIT_TOKEN, ALLOWED_REPO_PREFIXES: `${git.url}/`, MAX_EXECUTION_TIME: "60s" });
  workDir = env.WORK_DIR as string;
  s = await startTestServer(env);
});

afterAll(async () => {
  await s?.stop();
  await git?.stop();
  await llm?.stop();
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(" ").at(-1)) : Number.NaN;
}

test("the agent reads the repository's history and commits on it; the push arrives whole — with the mirror cache on, where a cold run's workspace would borrow the mirror's objects", async () => {
  await waitFor(async () => (await metric("opencode_server_warm_agents_ready")) === 1, { timeoutMs: 60_000, what: "a warm agent to be ready" });
  const subject = (await git.git("app", "log", "-1", "--format=%s", "main")).trim();
  const prompt = `Note the history\n${fakeScript({ bash: "git log -1 --format=%s > HISTORY.txt && git cat-file -p HEAD:README.md >> HISTORY.txt && cat HISTORY.txt" }, { text: "noted" })}`;
  const res = await fetch(`${s.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt, repository: git.repoUrl("app") }) });
  const body = await readJson(res);
  expect(res.status).toBe(200);
  expect(body).toMatchObject({ success: true, output: "noted", changed: true, pushed: true, tools: [{ tool: "bash", status: "completed", error: null }] });
  expect(await metric('opencode_server_warm_agent_runs{mode="warm"}')).toBe(1);
  // What the agent read from the objects (a borrowed, unreachable object store would have failed here).
  const history = await git.git("app", "show", `${String(body.branch)}:HISTORY.txt`);
  expect(history).toBe(`${subject}\n# app\n`);
  expect((await git.git("app", "fsck", "--strict")).trim()).toBe("");
}, 120_000);

test("a booted warm agent holds none of the server's secrets: no process of its sandbox has the git token or the provider key in its environment", async () => {
  await waitFor(async () => (await metric("opencode_server_warm_agents_ready")) === 1, { timeoutMs: 60_000, what: "a warm agent to be ready" });
  const procs = processesMatching(workDir).filter((p) => p.state !== "Z");
  // bwrap, the bridge, opencode serve: the sandbox is there to inspect.
  expect(procs.length).toBeGreaterThanOrEqual(2);
  let read = 0;
  for (const p of procs) {
    let environ: string;
    try {
      environ = readFileSync(`/proc/${p.pid}/environ`, "utf8");
    } catch {
      continue;
    }
    read++;
    expect(environ).not.toContain(GIT_TOKEN);
    expect(environ).not.toContain("sk-fake-provider-key");
  }
  expect(read).toBeGreaterThanOrEqual(2);
});

// Repository runs end to end through the app, against a real git smart-HTTP server, with a scripted agent.
import { shortRunId } from "../../src/runs/ids.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { json, testApp, type TestApp } from "../support/app.ts";
import { FakeRunner, type FakeBehaviour } from "../support/fake-runner.ts";
import { gate } from "../support/gate.ts";
import { git, loggingGit, startGitServer, type GitServer } from "../support/git-server.ts";
import { readJson } from "../support/http.ts";
import { tempDir } from "../support/temp.ts";
import { processesMatching, zombieChildren } from "../support/procs.ts";
import { waitFor, settledDir } from "../support/wait.ts";
import { enableSubreaper, startReaping } from "../../src/proc/reaper.ts";

const TOKEN = "canary-git-token-5e7d1f";
let server: GitServer;
const spy = loggingGit();

beforeAll(async () => {
  server = startGitServer({ token: TOKEN });
  await server.createRepo("alpha", { files: { "README.md": "# alpha\n" }, branches: { feature: { "feature.txt": "feature\n" } } });
  await server.createRepo("secret", { private: true });
  await server.createRepo("locked", { readOnly: true });
  await server.createRepo("void", { empty: true });
  await server.createRepo("hung", { stall: true });
});

afterAll(async () => {
  await server?.stop();
});

function app(behaviour: FakeBehaviour, opts: { token?: string | null } = {}): TestApp {
  return testApp({
    runner: new FakeRunner(behaviour),
    allowedRepos: [`${server.url}/`],
    gitBinary: spy.bin,
    gitToken: opts.token === undefined ? TOKEN : opts.token,
    secrets: [TOKEN],
  });
}

const writeFile = (name: string, content: string): FakeBehaviour => async (input) => {
  await Bun.write(path.join(input.cwd, name), content);
  return { output: `wrote ${name}` };
};

async function runRepo(t: TestApp, body: Record<string, unknown>) {
  const res = await t.request("/run", json({ prompt: "Add a file\nplease", ...body }));
  return { status: res.status, body: await readJson(res) };
}

describe("delivering the agent's work", () => {
  test("new default branch opencode/<run id> from main: committed, pushed, main untouched", async () => {
    const t = app(writeFile("NEW.md", "hello\n"));
    const main = await server.head("alpha", "main");
    const { status, body } = await runRepo(t, { repository: server.repoUrl("alpha") });
    expect(status).toBe(200);
    const branch = `opencode/${shortRunId(String(body.run_id))}`;
    const pushed = await server.head("alpha", branch);
    expect(body).toMatchObject({
      success: true,
      repository: server.repoUrl("alpha"),
      branch,
      commit: pushed,
      base_branch: "main",
      base_commit: main,
      changed: true,
      files_changed: ["NEW.md"],
      pushed: true,
      push_note: null,
    });
    expect(await server.git("alpha", "show", `${branch}:NEW.md`)).toBe("hello\n");
    expect(await server.git("alpha", "log", "-1", "--format=%an <%ae>|%s|%b", branch)).toBe(`test <test@localhost>|Add a file|Run-Id: ${body.run_id}\n\n`);
    expect((await server.git("alpha", "rev-parse", `${branch}^`)).trim()).toBe(main as string);
    expect(await server.head("alpha", "main")).toBe(main);
    expect(await settledDir(t.workDir)).toEqual([]);
  });

  test("an existing branch is checked out and the commit lands on top of it", async () => {
    const t = app(writeFile("more.txt", "more\n"));
    const before = await server.head("alpha", "feature");
    const { status, body } = await runRepo(t, { repository: server.repoUrl("alpha"), branch: "feature" });
    expect(status).toBe(200);
    expect(body).toMatchObject({ branch: "feature", base_branch: "feature", base_commit: before, changed: true, pushed: true, files_changed: ["more.txt"] });
    expect((await server.git("alpha", "rev-parse", "feature^")).trim()).toBe(before as string);
  });

  test("a new named branch starts from base", async () => {
    const t = app(writeFile("x.txt", "x\n"));
    const { body } = await runRepo(t, { repository: server.repoUrl("alpha"), branch: "topic/from-feature", base: "feature" });
    expect(body).toMatchObject({ branch: "topic/from-feature", base_branch: "feature", pushed: true });
    expect(await server.git("alpha", "show", "topic/from-feature:feature.txt")).toBe("feature\n");
  });

  test("no changes: changed false, nothing pushed", async () => {
    const t = app(() => ({ output: "looked around" }));
    const { status, body } = await runRepo(t, { repository: server.repoUrl("alpha") });
    expect(status).toBe(200);
    expect(body).toMatchObject({ changed: false, pushed: false, files_changed: [], push_note: null });
    expect(body.commit).toBe(body.base_commit);
    expect(await server.head("alpha", String(body.branch))).toBeNull();
  });

  test("commits the agent made itself are kept, with its uncommitted leftovers on top", async () => {
    const t = app(async (input) => {
      const env = { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_AUTHOR_NAME: "Agent", GIT_AUTHOR_EMAIL: "agent@x", GIT_COMMITTER_NAME: "Agent", GIT_COMMITTER_EMAIL: "agent@x" };
      await Bun.write(path.join(input.cwd, "a.txt"), "a\n");
      await Bun.spawn(["git", "add", "a.txt"], { cwd: input.cwd, env }).exited;
      await Bun.spawn(["git", "commit", "-qm", "agent commit"], { cwd: input.cwd, env }).exited;
      await Bun.write(path.join(input.cwd, "b.txt"), "b\n");
      return { output: "done" };
    });
    const { body } = await runRepo(t, { repository: server.repoUrl("alpha") });
    expect(body).toMatchObject({ changed: true, pushed: true });
    expect((body.files_changed as string[]).sort()).toEqual(["a.txt", "b.txt"]);
    expect(await server.git("alpha", "log", "--format=%s", "-2", String(body.branch))).toBe("Add a file\nagent commit\n");
  });

  test("a push rejected because the branch moved lands on <branch>-<run id>, and says so", async () => {
    const t = app(async (input) => {
      // Someone else pushes to the branch while the agent works.
      const other = path.join(input.tmpDir, "other");
      await git(input.tmpDir, "clone", "--quiet", "--branch", "feature", server.repoUrl("alpha"), other);
      await Bun.write(path.join(other, "theirs.txt"), "theirs\n");
      await git(other, "add", "-A");
      await git(other, "commit", "--quiet", "-m", "concurrent");
      await git(other, "push", "--quiet", "origin", "feature");
      await Bun.write(path.join(input.cwd, "ours.txt"), "ours\n");
      return { output: "done" };
    });
    const { status, body } = await runRepo(t, { repository: server.repoUrl("alpha"), branch: "feature" });
    expect(status).toBe(200);
    const fallback = `feature-${shortRunId(String(body.run_id))}`;
    expect(body).toMatchObject({ branch: fallback, pushed: true, changed: true, push_note: `Push to "feature" was rejected (fetch first); the commit was pushed to "${fallback}" instead` });
    expect(await server.git("alpha", "show", `${fallback}:ours.txt`)).toBe("ours\n");
    expect(await server.git("alpha", "log", "-1", "--format=%s", "feature")).toBe("concurrent\n");
  });

  test("push: false commits but pushes nothing and returns the diff", async () => {
    const t = app(writeFile("local.txt", "local\n"));
    const { body } = await runRepo(t, { repository: server.repoUrl("alpha"), push: false });
    expect(body).toMatchObject({ changed: true, pushed: false, files_changed: ["local.txt"], patch_truncated: false, push_note: "push: false — the commit was not pushed; the change is in patch" });
    expect(String(body.patch)).toContain("+local");
    expect(await server.head("alpha", String(body.branch))).toBeNull();
  });

  test("an empty repository gets a first commit on the new branch", async () => {
    const t = app(writeFile("first.txt", "first\n"));
    const { status, body } = await runRepo(t, { repository: server.repoUrl("void"), branch: "main" });
    expect(status).toBe(200);
    expect(body).toMatchObject({ branch: "main", base_branch: null, base_commit: null, changed: true, pushed: true, files_changed: ["first.txt"] });
    expect(await server.git("void", "show", "main:first.txt")).toBe("first\n");
  });
});

describe("when delivery fails", () => {
  test("a push refused outright → 502 push_failed; the commit is saved as a patch that git am applies", async () => {
    const t = app(writeFile("kept.txt", "kept\n"));
    const { status, body } = await runRepo(t, { repository: server.repoUrl("locked") });
    expect(status).toBe(502);
    expect(body).toMatchObject({ success: false, code: "push_failed", pushed: false, changed: true });
    expect(String(body.error)).toStartWith(`Push to "${body.branch}" failed:`);
    const saved = String(body.undelivered_patch);
    expect(existsSync(saved)).toBe(true);
    expect(readFileSync(saved, "utf8")).toContain("+kept");
    // Nothing lost: the patch recreates the commit on a fresh clone.
    const check = path.join(tempDir("ocs-check-"), "clone");
    await git(t.workDir, "clone", "--quiet", server.repoUrl("locked"), check);
    await git(check, "am", "--quiet", saved);
    expect(readFileSync(path.join(check, "kept.txt"), "utf8")).toBe("kept\n");
  });

  test("a private repository without a token → 502 clone_failed with git's reason, before the agent runs", async () => {
    const t = app(writeFile("never.txt", "x"), { token: null });
    const { status, body } = await runRepo(t, { repository: server.repoUrl("secret") });
    expect(status).toBe(502);
    expect(body.code).toBe("clone_failed");
    expect(String(body.error)).toStartWith(`Failed to clone repository ${server.repoUrl("secret")}:`);
    expect(String(body.error)).toContain("GITHUB_TOKEN / GIT_TOKEN");
    expect(t.runner.calls).toHaveLength(0);
  });

  test("git helpers orphaned by a failed fetch are adopted and reaped, not left as zombies", async () => {
    expect(enableSubreaper()).toBe(true);
    const stopReaping = startReaping();
    try {
      const t = app(writeFile("never.txt", "x"), { token: null });
      for (let i = 0; i < 3; i++) expect((await runRepo(t, { repository: server.repoUrl("secret") })).status).toBe(502);
      await waitFor(() => zombieChildren(["git", "git-remote-http"]).length === 0, { what: "git zombies reaped", timeoutMs: 15_000 });
    } finally {
      stopReaping();
    }
  });

  test("a wrong token → clone_failed; the token appears nowhere", async () => {
    const t = app(writeFile("never.txt", "x"), { token: "wrong-token-123456" });
    const { status, body } = await runRepo(t, { repository: server.repoUrl("secret") });
    expect(status).toBe(502);
    expect(body.code).toBe("clone_failed");
    expect(JSON.stringify(body)).not.toContain("wrong-token-123456");
  });

  test("a private repository with the token works; the token is never in the workspace's .git/config or the agent's env", async () => {
    let config = "";
    const t = app(async (input) => {
      config = await Bun.file(path.join(input.cwd, ".git", "config")).text();
      await Bun.write(path.join(input.cwd, "s.txt"), "s\n");
      return { output: "ok" };
    });
    const { status, body } = await runRepo(t, { repository: server.repoUrl("secret") });
    expect(status).toBe(200);
    expect(body.pushed).toBe(true);
    expect(config).toContain(`url = ${server.repoUrl("secret")}`);
    expect(config).not.toContain(TOKEN);
    expect(JSON.stringify(body)).not.toContain(TOKEN);
    expect(t.logs.join("\n")).not.toContain(TOKEN);
    // The server's own requests authenticated with the token; none carried it in the URL.
    expect(server.requests.every((r) => !r.path.includes(TOKEN))).toBe(true);
  });

  test("MAX_EXECUTION_TIME covers the clone: a hung git host → 408, and no git process is left", async () => {
    const t = testApp({ runner: new FakeRunner(writeFile("never.txt", "x")), allowedRepos: [`${server.url}/`], gitBinary: spy.bin, maxExecutionMs: 1500 });
    const { status, body } = await runRepo(t, { repository: server.repoUrl("hung") });
    expect(status).toBe(408);
    expect(body).toMatchObject({ code: "timeout", error: "Execution timeout: the run exceeded MAX_EXECUTION_TIME (1.5s)" });
    expect(t.runner.calls).toHaveLength(0);
    expect(processesMatching(server.repoUrl("hung"))).toEqual([]);
    expect(await settledDir(t.workDir)).toEqual([]);
  });

  test("an unknown base branch → 400 naming the field", async () => {
    const t = app(writeFile("never.txt", "x"));
    const { status, body } = await runRepo(t, { repository: server.repoUrl("alpha"), base: "no-such-base" });
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: "invalid_request", field: "base", error: `Unknown base branch "no-such-base": ${server.repoUrl("alpha")} has no such branch` });
  });

  test("a repository that does not exist → clone_failed", async () => {
    const t = app(writeFile("never.txt", "x"));
    const { status, body } = await runRepo(t, { repository: `${server.url}/missing.git` });
    expect(status).toBe(502);
    expect(body.code).toBe("clone_failed");
  });
});

describe("the agent cannot subvert the server's git", () => {
  test("hooks, fsmonitor and a rewritten remote in .git/config are ignored; a hook never runs", async () => {
    const marker = path.join(spy.log + ".hook-ran");
    const t = app(async (input) => {
      const gitDir = path.join(input.cwd, ".git");
      await Bun.write(path.join(gitDir, "hooks", "pre-commit"), `#!/bin/sh\ntouch '${marker}'\n`);
      await Bun.spawn(["chmod", "+x", path.join(gitDir, "hooks", "pre-commit")]).exited;
      const config = await Bun.file(path.join(gitDir, "config")).text();
      await Bun.write(
        path.join(gitDir, "config"),
        `${config}\n[core]\n\tfsmonitor = touch '${marker}'\n\thooksPath = ${path.join(gitDir, "hooks")}\n[url "http://127.0.0.1:9/"]\n\tinsteadOf = ${server.url}/\n`,
      );
      await Bun.write(path.join(input.cwd, "f.txt"), "f\n");
      return { output: "ok" };
    });
    const { status, body } = await runRepo(t, { repository: server.repoUrl("alpha") });
    expect(status).toBe(200);
    expect(body.pushed).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });

  test("a .git replaced by a link elsewhere is refused: nothing is pushed", async () => {
    const t = app(async (input) => {
      await Bun.spawn(["sh", "-c", `mv .git ../moved-git && ln -s ../moved-git .git && echo x > y.txt`], { cwd: input.cwd }).exited;
      return { output: "ok" };
    });
    const { status, body } = await runRepo(t, { repository: server.repoUrl("alpha") });
    expect(status).toBe(502);
    expect(body).toMatchObject({ code: "push_failed", pushed: false, error: "Could not commit the agent's changes: the agent removed or replaced the .git directory" });
  });
});

describe("rejected before any git process starts", () => {
  const bad: [string, Record<string, unknown>, number, string | undefined][] = [
    ["a host not allowed", { repository: "https://gitlab.com/acme/app.git" }, 403, undefined],
    ["a prefix look-alike", { repository: "http://127.0.0.1:1/x.git" }, 403, undefined],
    ["credentials in the URL", { repository: "https://user:pass@github.com/acme/app.git" }, 400, "repository"],
    ["a user name in the URL", { repository: "https://token@github.com/acme/app.git" }, 400, "repository"],
    ["option injection", { repository: "--upload-pack=touch /tmp/pwned" }, 400, "repository"],
    ["-u form", { repository: "-uhttps://github.com/x" }, 400, "repository"],
    ["file://", { repository: "file:///etc" }, 400, "repository"],
    ["ext::", { repository: "ext::sh -c touch% /tmp/pwned" }, 400, "repository"],
    ["ssh scp form", { repository: "git@github.com:acme/app.git" }, 400, "repository"],
    ["ssh://", { repository: "ssh://git@github.com/acme/app.git" }, 400, "repository"],
    ["a control character", { repository: "https://github.com/acme/app\n.git" }, 400, "repository"],
    ["a query string", { repository: "https://github.com/acme/app.git?x=1" }, 400, "repository"],
    ["branch as an option", { repository: "https://github.com/acme/app.git", branch: "--upload-pack=x" }, 400, "branch"],
    ["branch with ..", { repository: "https://github.com/acme/app.git", branch: "../x" }, 400, "branch"],
    ["branch ending .lock", { repository: "https://github.com/acme/app.git", branch: "x.lock" }, 400, "branch"],
    ["branch with a space", { repository: "https://github.com/acme/app.git", branch: "a b" }, 400, "branch"],
    ["base with @{", { repository: "https://github.com/acme/app.git", base: "main@{1}" }, 400, "base"],
    ["branch without repository", { branch: "main" }, 400, "branch"],
    ["push without repository", { push: false }, 400, "push"],
  ];
  for (const [name, fields, status, field] of bad) {
    test(`${name} → ${status}`, async () => {
      const t = app(writeFile("never.txt", "x"));
      const before = (await spy.invocations()).length;
      const requestsBefore = server.requests.length;
      const { status: got, body } = await runRepo(t, fields);
      expect(got).toBe(status);
      expect(body.code).toBe(status === 403 ? "repository_not_allowed" : "invalid_request");
      if (field) expect(body.field).toBe(field);
      expect((await spy.invocations()).length).toBe(before);
      expect(server.requests.length).toBe(requestsBefore);
      expect(t.runner.calls).toHaveLength(0);
    });
  }
});

describe("runs on the same repository", () => {
  test("same repository and branch are serialised, so the second builds on the first; other branches run alongside", async () => {
    const gates = new Map([["a", gate()], ["b", gate()], ["c", gate()]]);
    const t = testApp({
      runner: new FakeRunner(async (input) => {
        await gates.get(input.prompt)?.promise;
        await Bun.write(path.join(input.cwd, `${input.prompt}.txt`), `${input.prompt}\n`);
        return { output: input.prompt };
      }),
      allowedRepos: [`${server.url}/`],
      gitBinary: spy.bin,
      gitToken: TOKEN,
      maxConcurrent: 4,
    });
    const post = async (prompt: string, branch: string) => readJson(await t.request("/runs", json({ prompt, repository: server.repoUrl("alpha"), branch })));
    const a = await post("a", "serial");
    const b = await post("b", "serial");
    const c = await post("c", "parallel");
    expect([a.status, b.status, c.status]).toEqual(["running", "queued", "running"]);
    expect(b.queue_position).toBe(1);
    await t.runner.waitForCalls(2);
    // Which clone finishes first is up to git: a and c both run, b does not.
    expect(t.runner.calls.map((call) => call.prompt).sort()).toEqual(["a", "c"]);
    gates.get("c")?.open();
    const view = async (id: unknown) => readJson(await t.request(`/runs/${id}`));
    await waitFor(async () => (await view(c.id)).status === "succeeded", { what: "c" });
    expect((await view(b.id)).status).toBe("queued");
    gates.get("a")?.open();
    await waitFor(async () => (await view(a.id)).status === "succeeded", { what: "a" });
    gates.get("b")?.open();
    const done = await waitFor(async () => {
      const v = await view(b.id);
      return v.status === "succeeded" ? v : null;
    }, { what: "b" });
    const first = (await view(a.id)).result as Record<string, unknown>;
    // b started from a's pushed commit: no race, no fallback branch.
    expect(done.result).toMatchObject({ branch: "serial", base_commit: first.commit, pushed: true, push_note: null });
    expect((await server.git("alpha", "ls-tree", "--name-only", "serial")).split("\n")).toEqual(expect.arrayContaining(["a.txt", "b.txt"]));
  });
});

describe("cancellation and metrics for repository runs", () => {
  test("a cancelled repository run pushes nothing, even with changes in its clone", async () => {
    const wrote = gate();
    const t = app(async (input) => {
      await Bun.write(path.join(input.cwd, "unwanted.txt"), "x\n");
      wrote.open();
      await new Promise((resolve) => input.signal.addEventListener("abort", resolve, { once: true }));
      return { exitCode: null, aborted: true };
    });
    const run = await readJson(await t.request("/runs", json({ prompt: "p", repository: server.repoUrl("alpha"), branch: "cancel-me" })));
    await wrote.promise;
    const cancelled = await readJson(await t.request(`/runs/${run.id}`, { method: "DELETE" }));
    expect(cancelled).toMatchObject({ status: "cancelled", code: "cancelled" });
    expect((cancelled.result as Record<string, unknown>).pushed).toBeUndefined();
    expect(await server.head("alpha", "cancel-me")).toBeNull();
    expect(await server.head("alpha", `cancel-me-${shortRunId(String(run.id))}`)).toBeNull();
  });

  test("failed clones and pushes are counted", async () => {
    const t = app(writeFile("x.txt", "x"));
    await runRepo(t, { repository: `${server.url}/missing.git` });
    await runRepo(t, { repository: server.repoUrl("locked") });
    const metrics = await (await t.request("/metrics")).text();
    expect(metrics).toContain('opencode_server_git_failures_total{operation="clone"} 1');
    expect(metrics).toContain('opencode_server_git_failures_total{operation="push"} 1');
    expect(metrics).toContain('opencode_server_runs_total{status="failed",code="clone_failed"} 1');
    expect(metrics).toContain('opencode_server_runs_total{status="failed",code="push_failed"} 1');
  });
});

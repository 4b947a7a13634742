// Workspaces that borrow the mirror's objects: one fetch for concurrent runs, no ls-remote, a mirror no agent can change,
// leases spanning the run, alternates the agent cannot redirect, pushes and kept commits that stand alone.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../../src/config.ts";
import { repoDeps } from "../../src/compose.ts";
import { MirrorCache } from "../../src/git/mirror-cache.ts";
import { parsePrefixes, resolveRepositoryUrl } from "../../src/git/url-policy.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { executeRun, type RunSpec } from "../../src/runs/pipeline.ts";
import { prepareRepo } from "../../src/runs/repo-clone.ts";
import type { RepoDeps } from "../../src/runs/repository.ts";
import { createWorkspace } from "../../src/runs/workspace.ts";
import { createSandbox, probeLandlock } from "../../src/sandbox/index.ts";
import { FakeRunner, type FakeBehaviour } from "../support/fake-runner.ts";
import { git, startGitServer, type GitServer } from "../support/git-server.ts";
import { tempDir } from "../support/temp.ts";

const TOKEN = "canary-shared-token-4f2a";
let server: GitServer;

beforeAll(async () => {
  server = startGitServer({ token: TOKEN });
  const files: Record<string, string> = {};
  for (let i = 0; i < 50; i++) files[`src/f${i}.txt`] = `file ${i}\n`;
  await server.createRepo("shared", { private: true, files, branches: { feature: { "feature.txt": "feature\n" } } });
  await server.createRepo("other", { files: { "other.txt": "other\n" } });
  await server.createRepo("void", { empty: true });
});

afterAll(async () => {
  await server?.stop();
});

interface Setup {
  deps: RepoDeps;
  cache: MirrorCache;
  workDir: string;
}

function setup(shareMirror: boolean, maxBytes = 1024 ** 3): Setup {
  const home = tempDir("ocs-shared-");
  const workDir = path.join(home, "runs");
  mkdirSync(workDir);
  const config = loadConfig({ HOME: home, PATH: process.env.PATH ?? "/usr/bin:/bin", WORK_DIR: workDir, DATA_DIR: path.join(home, "data"), OPENCODE_AUTH_TOKEN: "unused-token-0123456789", GIT_TOKEN: TOKEN, ALLOWED_REPO_PREFIXES: `${server.url}/` });
  const cache = new MirrorCache(path.join(home, "mirrors"), maxBytes);
  return { deps: { ...repoDeps(config, Bun.which("git"), cache), shareMirror }, cache, workDir };
}

const request = (name: string, fields: { branch?: string; base?: string; push?: boolean } = {}) => ({
  url: resolveRepositoryUrl(server.repoUrl(name), parsePrefixes([`${server.url}/`])),
  branch: fields.branch ?? null,
  base: fields.base ?? null,
  push: fields.push ?? true,
  pullRequest: null,
});

/** Connections git opened to the server (each starts with GET info/refs; the repository is private, so an unauthorised first try is no connection of its own) during `fn`. */
async function connections<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const before = server.requests.length;
  const value = await fn();
  return [value, server.requests.slice(before).filter((r) => r.method === "GET" && r.path.endsWith("/info/refs") && r.authorization !== null).length];
}

let runs = 0;
function spec(name: string, fields: { branch?: string; base?: string; push?: boolean } = {}): RunSpec {
  // The branch is named after the id's last characters: every run gets a branch of its own.
  const runId = `run_shared_${process.pid}_${String(++runs).padStart(8, "0")}`;
  return { runId, requestId: `req-${runs}`, prompt: "Change things", model: null, agent: null, repo: request(name, fields), threadId: runId, resume: null };
}

function execute(s: Setup, behaviour: FakeBehaviour, runSpec: RunSpec) {
  const workspaces = { take: (threadId: string, opts: { git: boolean }) => Promise.resolve(createWorkspace(s.workDir, threadId, opts)) };
  return executeRun({ runner: new FakeRunner(behaviour), workDir: s.workDir, workspaces, redactor: new Redactor([TOKEN]), defaultModel: null, repo: s.deps }, runSpec, new AbortController().signal, () => {}).then(async (ran) => {
    await ran.cleanup();
    return ran.result;
  });
}

/** Every file of a directory tree → sha256 of its bytes. */
function digest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    out[path.relative(dir, full)] = createHash("sha256").update(readFileSync(full)).digest("hex");
  }
  return out;
}

describe("one fetch, no ls-remote", () => {
  test("four concurrent runs on one repository make exactly one connection to the remote between them", async () => {
    const s = setup(true);
    const workspaces = [1, 2, 3, 4].map((i) => createWorkspace(s.workDir, `run_conc${i}`, { git: true }));
    const [prepared, n] = await connections(() => Promise.all(workspaces.map((ws, i) => prepareRepo(s.deps, request("shared"), ws, `run_conc${i}`, new AbortController().signal))));
    expect(n).toBe(1);
    const main = await server.head("shared", "main");
    expect(prepared.map((p) => [p.baseBranch, p.defaultBranch, p.baseCommit])).toEqual([1, 2, 3, 4].map(() => ["main", "main", main]));
    expect(s.cache.leases(s.cache.pathFor(server.repoUrl("shared")))).toBe(4);
    for (const p of prepared) p.lease?.release();
    for (const ws of workspaces) await ws.remove();
    expect(s.cache.leases(s.cache.pathFor(server.repoUrl("shared")))).toBe(0);
  });

  test("the lock covers the fetch only: four runs' workspaces are made from the mirror at the same time", async () => {
    const s = setup(true);
    // A git whose clones each wait (up to a deadline) until all four have started: clones made one after
    // another under a lock would never get there, and fail.
    const dir = tempDir("ocs-barrier-");
    const barrier = path.join(dir, "started");
    mkdirSync(barrier);
    const bin = path.join(dir, "git");
    const real = Bun.which("git") ?? "/usr/bin/git";
    writeFileSync(bin, `#!/bin/sh\ncase " $* " in *" clone "*)\n  : > '${barrier}/'$$\n  n=0\n  while [ "$(ls '${barrier}' | wc -l)" -lt 4 ]; do n=$((n+1)); [ $n -gt 600 ] && exit 97; sleep 0.05; done ;;\nesac\nexec '${real}' "$@"\n`, { mode: 0o755 });
    const deps = { ...s.deps, gitBinary: bin };
    const workspaces = [1, 2, 3, 4].map((i) => createWorkspace(s.workDir, `run_par${i}`, { git: true }));
    const prepared = await Promise.all(workspaces.map((ws, i) => prepareRepo(deps, request("shared"), ws, `run_par${i}`, new AbortController().signal)));
    expect(prepared.map((p) => p.baseBranch)).toEqual(["main", "main", "main", "main"]);
    expect(readdirSync(barrier)).toHaveLength(4);
    for (const p of prepared) p.lease?.release();
    for (const ws of workspaces) await ws.remove();
  });

  test("a warm run makes one connection (the fetch), and still checks out an existing branch, starts a new one from base, and refuses an unknown base", async () => {
    const s = setup(true);
    const ws = () => createWorkspace(s.workDir, `run_warm${++runs}`, { git: true });
    const first = await prepareRepo(s.deps, request("shared"), ws(), "run_warm_a", new AbortController().signal);
    first.lease?.release();
    const [existing, n1] = await connections(() => prepareRepo(s.deps, request("shared", { branch: "feature" }), ws(), "run_warm_b", new AbortController().signal));
    existing.lease?.release();
    expect(n1).toBe(1);
    expect([existing.target, existing.baseBranch, existing.baseCommit]).toEqual(["feature", "feature", await server.head("shared", "feature")]);
    const [fresh, n2] = await connections(() => prepareRepo(s.deps, request("shared", { branch: "topic", base: "feature" }), ws(), "run_warm_c", new AbortController().signal));
    fresh.lease?.release();
    expect(n2).toBe(1);
    expect([fresh.target, fresh.baseBranch, fresh.baseCommit]).toEqual(["topic", "feature", await server.head("shared", "feature")]);
    const refused = await prepareRepo(s.deps, request("shared", { base: "nope" }), ws(), "run_warm_d", new AbortController().signal).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "invalid_request", details: { field: "base" } });
    expect(s.cache.leases(s.cache.pathFor(server.repoUrl("shared")))).toBe(0);
  });

  test("no mirror is kept for a repository that does not exist, nor for an empty one (which is cloned directly)", async () => {
    const s = setup(true);
    const missing = await prepareRepo(s.deps, request("missing"), createWorkspace(s.workDir, "run_missing", { git: true }), "run_missing", new AbortController().signal).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: "clone_failed" });
    const ws = createWorkspace(s.workDir, "run_void", { git: true });
    const empty = await prepareRepo(s.deps, request("void"), ws, "run_void", new AbortController().signal);
    expect([empty.baseBranch, empty.baseCommit, empty.sharedObjects, empty.lease]).toEqual([null, null, null, null]);
    await ws.remove();
    expect(readdirSync(s.cache.dir)).toEqual([]);
  });

  test("a run arriving while a fetch is under way waits for the next one, which sees what was pushed meanwhile", async () => {
    const cache = new MirrorCache(tempDir("ocs-flight-"), 1024);
    const mirror = cache.pathFor("https://example.invalid/r.git");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let remote = 1;
    const fetched: number[] = [];
    const fetch = async () => {
      const seen = remote;
      fetched.push(seen);
      if (fetched.length === 1) await gate;
      return { defaultBranch: "main", heads: new Map([["main", String(seen)]]) };
    };
    const signal = new AbortController().signal;
    const early = [cache.refresh(mirror, signal, fetch), cache.refresh(mirror, signal, fetch)];
    while (fetched.length === 0) await new Promise((r) => setImmediate(r));
    // The remote moves on after the first fetch read its refs; these runs must not be served by it.
    remote = 2;
    const late = [cache.refresh(mirror, signal, fetch), cache.refresh(mirror, signal, fetch)];
    release();
    const heads = (await Promise.all([...early, ...late])).map((snap) => snap.heads.get("main"));
    expect(heads).toEqual(["1", "1", "2", "2"]);
    expect(fetched).toEqual([1, 2]);
  });
});

describe("the borrowed mirror", () => {
  const landlock = probeLandlock();
  const sandboxes = { bwrap: createSandbox({ mode: "bwrap", bwrapPath: "/usr/bin/bwrap" }), landlock: landlock.ok ? createSandbox({ mode: "landlock", landlock: landlock.support }) : null };
  test.each(["bwrap", "landlock"] as const)("under %s the agent reads the borrowed objects but cannot change them; its own commit lands in the workspace and is pushed whole", async (mode) => {
    const s = setup(true);
    const sandbox = sandboxes[mode];
    if (!sandbox) throw new Error(`this test needs Landlock: ${landlock.ok ? "" : landlock.error}`);
    const mirror = s.cache.pathFor(server.repoUrl("shared"));
    let before: Record<string, string> = {};
    let report = "";
    const script = [
      'objects="$1"',
      'file=$(find "$objects" -type f | head -n1)',
      'for what in append create remove; do',
      '  case $what in',
      '    append) echo junk >> "$file" ;;',
      '    create) echo junk > "$objects/planted" ;;',
      '    remove) rm "$file" ;;',
      '  esac 2>/dev/null && echo "$what: allowed" || echo "$what: refused"',
      'done',
      'git log --format=%s -1 main',
      'echo agent > agent.txt && git add agent.txt && git -c user.name=a -c user.email=a@b commit -q -m "agent commit" && echo committed',
    ].join("\n");
    const result = await execute(
      s,
      async (input) => {
        before = digest(mirror);
        const cmd = sandbox.command(["sh", "-c", script, "sh", path.join(mirror, "objects")], { root: input.root, cwd: input.cwd, env: { PATH: "/usr/bin:/bin", HOME: input.home, LC_ALL: "C" }, hidden: [s.cache.dir], readOnly: input.readOnly ?? [] });
        const proc = Bun.spawn(cmd.argv, { cwd: cmd.cwd, env: cmd.env, stdout: "pipe", stderr: "pipe" });
        report = await new Response(proc.stdout).text();
        await proc.exited;
        return { output: "done" };
      },
      spec("shared"),
    );
    expect(report).toBe("append: refused\ncreate: refused\nremove: refused\ninitial commit\ncommitted\n");
    expect(Object.keys(before).length).toBeGreaterThan(50);
    expect(digest(mirror)).toEqual(before);
    expect(result).toMatchObject({ ok: true, git: { pushed: true, changed: true, filesChanged: ["agent.txt"] } });
    const branch = result.git?.branch as string;
    expect((await server.git("shared", "log", "--format=%s", "-2", branch)).trim().split("\n")).toEqual(["agent commit", "initial commit"]);
    // The remote got every object it needs: it has no alternates of its own to lean on.
    expect(existsSync(path.join(server.root, "shared.git", "objects", "info", "alternates"))).toBe(false);
    expect(await server.git("shared", "fsck", "--strict", "--no-dangling")).toBe("");
  });

  test("alternates the agent points at another repository are put back before the server's git: the push arrives whole", async () => {
    const s = setup(true);
    // Another mirror the agent may not see: the server's git must never read (and push) its objects.
    const other = setup(true);
    const ws = createWorkspace(other.workDir, "run_other", { git: true });
    const otherPrepared = await prepareRepo(other.deps, request("other"), ws, "run_other", new AbortController().signal);
    const mirror = s.cache.pathFor(server.repoUrl("shared"));
    let written = "";
    const result = await execute(
      s,
      async (input) => {
        writeFileSync(path.join(input.cwd, ".git", "objects", "info", "alternates"), `${otherPrepared.sharedObjects}\n`);
        await Bun.write(path.join(input.cwd, "new.txt"), "new\n");
        return { output: "done" };
      },
      spec("shared"),
    );
    otherPrepared.lease?.release();
    await ws.remove();
    expect(result).toMatchObject({ ok: true, git: { pushed: true, changed: true, filesChanged: ["new.txt"] } });
    written = await server.git("shared", "show", `${result.git?.branch}:new.txt`);
    expect(written).toBe("new\n");
    expect(await server.git("shared", "fsck", "--strict", "--no-dangling")).toBe("");
    expect(s.cache.leases(mirror)).toBe(0);
  });

  test("eviction never removes a mirror a live run borrows; it goes once the run is over", async () => {
    const s = setup(true, 1);
    const mirror = s.cache.pathFor(server.repoUrl("shared"));
    let during: { evicted: string[]; present: boolean } = { evicted: [], present: false };
    const result = await execute(
      s,
      async (input) => {
        during = { evicted: s.cache.evict().evicted, present: existsSync(path.join(mirror, "HEAD")) };
        await Bun.write(path.join(input.cwd, "late.txt"), (await git(input.cwd, "log", "--format=%s", "-1")).trim());
        return { output: "done" };
      },
      spec("shared"),
    );
    expect(during).toEqual({ evicted: [], present: true });
    expect(result).toMatchObject({ ok: true, git: { pushed: true, filesChanged: ["late.txt"] } });
    expect(existsSync(mirror)).toBe(false);
  });

  test("commits kept for a follow-up stand alone: the bundle applies to a plain clone of the remote", async () => {
    const s = setup(true);
    const result = await execute(
      s,
      async (input) => {
        await Bun.write(path.join(input.cwd, "kept.txt"), "kept\n");
        return { output: "done", session: { sessionId: "ses_kept", directory: input.cwd, files: [] } };
      },
      spec("shared", { push: false }),
    );
    const continuation = result.continuation;
    if (!continuation || !("session" in continuation) || !continuation.commits) throw new Error(`no kept commits: ${JSON.stringify(continuation)}`);
    const dir = tempDir("ocs-bundle-");
    const bundle = path.join(dir, "kept.bundle");
    writeFileSync(bundle, continuation.commits.bundle);
    await git(dir, "-c", `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString("base64")}`, "clone", "--quiet", server.repoUrl("shared"), "plain");
    const plain = path.join(dir, "plain");
    await git(plain, "bundle", "verify", "--quiet", bundle);
    await git(plain, "fetch", "--quiet", bundle, `refs/heads/${continuation.commits.branch}:refs/heads/kept`);
    expect(await git(plain, "show", "kept:kept.txt")).toBe("kept\n");
    expect((await git(plain, "fsck", "--strict", "--no-dangling")).trim()).toBe("");
  });

  test("without a sandbox the workspace is a standalone copy: no alternates, and the agent sees no mirror path", async () => {
    const s = setup(false);
    let seen: { alternates: boolean; readOnly: readonly string[] } = { alternates: true, readOnly: ["unset"] };
    const result = await execute(
      s,
      async (input) => {
        seen = { alternates: existsSync(path.join(input.cwd, ".git", "objects", "info", "alternates")), readOnly: input.readOnly ?? [] };
        await Bun.write(path.join(input.cwd, "x.txt"), "x\n");
        return { output: "done" };
      },
      spec("shared"),
    );
    expect(seen).toEqual({ alternates: false, readOnly: [] });
    expect(result).toMatchObject({ ok: true, git: { pushed: true } });
    expect(s.cache.leases(s.cache.pathFor(server.repoUrl("shared")))).toBe(0);
  });
});

// Repository spares: the next run on a repository takes a checkout made ahead, brought to its commit, and ends exactly as a fresh clone would.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../../src/config.ts";
import { repoDeps } from "../../src/compose.ts";
import { MirrorCache } from "../../src/git/mirror-cache.ts";
import { parsePrefixes, resolveRepositoryUrl } from "../../src/git/url-policy.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { executeRun, type RunSpec } from "../../src/runs/pipeline.ts";
import { prepareRepo } from "../../src/runs/repo-clone.ts";
import { REPO_SPARE_PREFIX, RepoSpares } from "../../src/runs/repo-spares.ts";
import type { PreparedRepo, RepoDeps } from "../../src/runs/repository.ts";
import { createWorkspace, removalsSettled, type Workspace } from "../../src/runs/workspace.ts";
import { json, testApp, type TestApp } from "../support/app.ts";
import { FakeRunner, type FakeBehaviour } from "../support/fake-runner.ts";
import { git, startGitServer, type GitServer } from "../support/git-server.ts";
import { readJson } from "../support/http.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const TOKEN = "canary-spares-token-7c1d";
let server: GitServer;
let pusher: string;

beforeAll(async () => {
  server = startGitServer({ token: TOKEN });
  const files: Record<string, string> = {};
  for (let i = 0; i < 30; i++) files[`src/f${i}.txt`] = `file ${i}\n`;
  await server.createRepo("spares", { private: true, files, branches: { feature: { "feature.txt": "feature\n", "src/f1.txt": "changed on feature\n" } } });
  // A working copy that moves the remote's main on (a file changed, one added, one deleted).
  pusher = path.join(tempDir("ocs-spares-pusher-"), "w");
  await git(path.dirname(pusher), "clone", "--quiet", `file://${path.join(server.root, "spares.git")}`, pusher);
});

afterAll(async () => {
  await server?.stop();
});

let revision = 0;
async function advance(): Promise<string> {
  revision++;
  await Bun.write(path.join(pusher, "src", "f2.txt"), `revision ${revision}\n`);
  await Bun.write(path.join(pusher, `added-${revision}.txt`), "added\n");
  if (revision > 1) rmSync(path.join(pusher, `added-${revision - 1}.txt`));
  await git(pusher, "add", "-A");
  await git(pusher, "-c", "user.name=p", "-c", "user.email=p@x", "commit", "--quiet", "-m", `revision ${revision}`);
  await git(pusher, "push", "--quiet", "origin", "main");
  return (await git(pusher, "rev-parse", "HEAD")).trim();
}

interface Line {
  level: string;
  msg: string;
}

interface Setup {
  deps: RepoDeps;
  cache: MirrorCache;
  spares: RepoSpares;
  workDir: string;
  lines: Line[];
  mirror: string;
}

function setup(opts: { size?: number; maxBytes?: number } = {}): Setup {
  const home = tempDir("ocs-spares-");
  const workDir = path.join(home, "runs");
  mkdirSync(workDir);
  const config = loadConfig({ HOME: home, PATH: process.env.PATH ?? "/usr/bin:/bin", WORK_DIR: workDir, DATA_DIR: path.join(home, "data"), OPENCODE_AUTH_TOKEN: "unused-token-0123456789", GIT_TOKEN: TOKEN, ALLOWED_REPO_PREFIXES: `${server.url}/` });
  const cache = new MirrorCache(path.join(home, "mirrors"), opts.maxBytes ?? 1024 ** 3);
  const lines: Line[] = [];
  const logger = createLogger({ level: "debug", redactor: new Redactor([TOKEN]), sink: (l) => lines.push(JSON.parse(l) as Line) });
  const gitBinary = Bun.which("git");
  const spares = new RepoSpares({ workDir, size: opts.size ?? 2, cache, git: { binary: gitBinary as string, baseEnv: config.git.baseEnv, inactivityTimeoutMs: 60_000 }, logger });
  spares.start();
  return { deps: { ...repoDeps(config, gitBinary, cache), shareMirror: true, spares }, cache, spares, workDir, lines, mirror: cache.pathFor(server.repoUrl("spares")) };
}

const request = (fields: { branch?: string; base?: string; push?: boolean } = {}) => ({
  url: resolveRepositoryUrl(server.repoUrl("spares"), parsePrefixes([`${server.url}/`])),
  branch: fields.branch ?? null,
  base: fields.base ?? null,
  push: fields.push ?? true,
  pullRequest: null,
});

let runs = 0;
const nextId = () => `run_spares_${process.pid}_${String(++runs).padStart(8, "0")}`;

function spec(fields: { branch?: string; base?: string; push?: boolean } = {}, runId = nextId()): RunSpec {
  return { runId, requestId: `req-${runs}`, prompt: "Change things", model: null, agent: null, repo: request(fields), threadId: runId, resume: null };
}

function execute(s: Setup, behaviour: FakeBehaviour, runSpec: RunSpec) {
  const workspaces = { take: (threadId: string, opts: { git: boolean }) => Promise.resolve(createWorkspace(s.workDir, threadId, opts)) };
  return executeRun({ runner: new FakeRunner(behaviour), workDir: s.workDir, workspaces, redactor: new Redactor([TOKEN]), defaultModel: null, repo: s.deps }, runSpec, new AbortController().signal, () => {}).then(async (ran) => {
    await ran.cleanup();
    return ran.result;
  });
}

/** Everything about a workspace a run (or its agent) could tell apart: config, refs, HEAD, index, status, alternates, .git's entries, the files. */
async function stateOf(dir: string): Promise<Record<string, unknown>> {
  const files: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const full = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, full);
    if (e.isFile() && !rel.startsWith(".git/")) files[rel] = createHash("sha256").update(readFileSync(full)).digest("hex");
  }
  return {
    config: readFileSync(path.join(dir, ".git", "config"), "utf8"),
    refs: await git(dir, "for-each-ref", "--format=%(refname) %(objectname) %(symref) %(upstream)"),
    head: await git(dir, "symbolic-ref", "HEAD"),
    index: await git(dir, "ls-files", "--stage"),
    status: await git(dir, "status", "--porcelain=v2", "--branch", "--untracked-files=all"),
    alternates: readFileSync(path.join(dir, ".git", "objects", "info", "alternates"), "utf8"),
    gitEntries: readdirSync(path.join(dir, ".git")).sort(),
    files,
  };
}

/** What a fresh clone (no spares, its own cache) of the same request would be, for the same run id. */
async function freshState(fields: { branch?: string; base?: string }, runId: string): Promise<{ state: Record<string, unknown>; prepared: Omit<PreparedRepo, "lease" | "sharedObjects" | "trustedConfig"> }> {
  const s = setup({ size: 0 });
  const ws = createWorkspace(s.workDir, runId, { git: true });
  const prepared = await prepareRepo(s.deps, request(fields), ws, runId, new AbortController().signal);
  const state = await stateOf(ws.dir);
  prepared.lease?.release();
  await ws.remove();
  const { lease: _l, sharedObjects: _s, trustedConfig: _t, ...rest } = prepared;
  const normalised: Record<string, unknown> = { ...state, alternates: "(the mirror's objects)" };
  return { state: normalised, prepared: rest };
}

/** A run on `s` that records its workspace's state as the agent found it. */
async function runAndCapture(s: Setup, fields: { branch?: string; base?: string; push?: boolean }, runId = nextId()) {
  let state: Record<string, unknown> = {};
  let cwd = "";
  const result = await execute(
    s,
    async (input) => {
      state = await stateOf(input.cwd);
      cwd = input.cwd;
      await Bun.write(path.join(input.cwd, `work-${runId}.txt`), "work\n");
      return { output: "done" };
    },
    spec(fields, runId),
  );
  expect(state.alternates).toBe(`${path.join(s.mirror, "objects")}\n`);
  const normalised: Record<string, unknown> = { ...state, alternates: "(the mirror's objects)" };
  return { result, state: normalised, cwd, runId };
}

const used = (s: Setup) => s.lines.filter((l) => l.msg.startsWith("the workspace is a repository spare")).length;
const spareReady = (s: Setup) => waitFor(async () => (await s.spares.idle(), s.spares.readyMirrors().includes(s.mirror)), { what: "a repository spare", timeoutMs: 30_000 });
const spareDirs = (s: Setup) => readdirSync(s.workDir).filter((e) => e.startsWith(REPO_SPARE_PREFIX));

describe("a run takes the spare", () => {
  test("the second run on a repository gets the spare, moved to the head the remote has moved on to: state, commit, branch and push as a fresh clone's", async () => {
    const s = setup();
    await advance();
    const first = await runAndCapture(s, {});
    expect(first.result).toMatchObject({ ok: true, git: { pushed: true } });
    expect(used(s)).toBe(0);
    await spareReady(s);
    const head = await advance();
    const runId = nextId();
    const fresh = await freshState({}, runId);
    const second = await runAndCapture(s, {}, runId);
    expect(used(s)).toBe(1);
    expect(second.state).toEqual(fresh.state);
    expect(fresh.prepared.baseCommit).toBe(head);
    expect(second.result).toMatchObject({ ok: true, git: { pushed: true, changed: true, baseBranch: "main", baseCommit: head, branch: fresh.prepared.target, filesChanged: [`work-${runId}.txt`] } });
    expect(await server.git("spares", "show", `${fresh.prepared.target}:work-${runId}.txt`)).toBe("work\n");
    expect((await server.git("spares", "rev-parse", `${fresh.prepared.target}~1`)).trim()).toBe(head);
    // A new spare for the next run: the one taken was the second run's alone.
    await spareReady(s);
    expect(spareDirs(s)).toHaveLength(1);
    await s.spares.stop();
  });

  test.each([
    ["an existing branch", { branch: "feature" }],
    ["a new branch from another base", { branch: "topic-spare", base: "feature" }],
    ["a new branch from the default", { branch: "topic-main" }],
  ])("a run on %s starts from a spare made at the default branch, exactly as a fresh clone would", async (_what, fields) => {
    const s = setup();
    await runAndCapture(s, {});
    await spareReady(s);
    const runId = nextId();
    const fresh = await freshState(fields, runId);
    const run = await runAndCapture(s, { ...fields, push: false }, runId);
    expect(used(s)).toBe(1);
    expect(run.state).toEqual(fresh.state);
    expect(run.result).toMatchObject({ ok: true, git: { pushed: false, changed: true, baseBranch: fresh.prepared.baseBranch, baseCommit: fresh.prepared.baseCommit, branch: fresh.prepared.target } });
    await s.spares.stop();
  });

  test("two runs at once: one gets the spare, the other clones; neither sees the other's files, nor the earlier run's", async () => {
    const s = setup();
    const first = await runAndCapture(s, { push: false });
    await spareReady(s);
    const [a, b] = await Promise.all([runAndCapture(s, { push: false }), runAndCapture(s, { push: false })]);
    expect(used(s)).toBe(1);
    expect(s.lines.filter((l) => l.msg.startsWith("no repository spare ready")).length).toBe(2);
    const filesOf = (r: { state: Record<string, unknown> }) => Object.keys(r.state.files as Record<string, string>).filter((f) => f.startsWith("work-"));
    expect([filesOf(a), filesOf(b)]).toEqual([[], []]);
    expect(a.cwd).not.toBe(b.cwd);
    expect(first.result.ok && a.result.ok && b.result.ok).toBe(true);
    await s.spares.stop();
  });
});

describe("a spare's life", () => {
  test("a broken spare (its .git deleted) is not used: the run clones, says so, and ends as a fresh clone", async () => {
    const s = setup();
    await runAndCapture(s, {});
    await spareReady(s);
    const [dir] = spareDirs(s);
    rmSync(path.join(s.workDir, dir as string, "work", ".git"), { recursive: true, force: true });
    const runId = nextId();
    const fresh = await freshState({}, runId);
    const run = await runAndCapture(s, { push: false }, runId);
    expect(run.state).toEqual(fresh.state);
    expect(used(s)).toBe(0);
    expect(s.lines.filter((l) => l.level === "info" && l.msg.startsWith("a repository spare could not be brought to the run's commit")).length).toBe(1);
    await s.spares.stop();
  });

  test("eviction deletes its mirror's spare first; and its lease ends", async () => {
    const s = setup({ maxBytes: 1 });
    const ws: Workspace = createWorkspace(s.workDir, nextId(), { git: true });
    const prepared = await prepareRepo(s.deps, request(), ws, "run_evict", new AbortController().signal);
    await spareReady(s);
    expect(s.cache.leases(s.mirror)).toBe(2);
    // The run ends: only the spare holds the mirror, which is over the cache's size: both go.
    prepared.lease?.release();
    await ws.remove();
    expect([existsSync(s.mirror), s.spares.readyMirrors(), s.cache.leases(s.mirror)]).toEqual([false, [], 0]);
    await removalsSettled();
    expect(spareDirs(s)).toEqual([]);
    await s.spares.stop();
  });

  test("a broken mirror whose only borrower is a spare is rebuilt: the spare goes first, the run succeeds from the new mirror", async () => {
    const s = setup();
    await runAndCapture(s, {});
    await spareReady(s);
    // A stale lock on a ref the next fetch must move: that fetch fails, and the mirror is rebuilt.
    writeFileSync(path.join(s.mirror, "refs", "heads", "main.lock"), "");
    const head = await advance();
    const run = await runAndCapture(s, { push: false });
    expect(run.result).toMatchObject({ ok: true, git: { baseCommit: head } });
    expect(existsSync(path.join(s.mirror, "refs", "heads", "main.lock"))).toBe(false);
    expect([used(s), s.lines.filter((l) => l.msg.startsWith("deleted a repository spare: its mirror is evicted or rebuilt")).length]).toEqual([0, 1]);
    await s.spares.stop();
  });

  test("shutdown during a build aborts it, and deletes every spare", async () => {
    const s = setup();
    await runAndCapture(s, {});
    await spareReady(s);
    await s.spares.stop();
    await removalsSettled();
    expect([spareDirs(s), s.spares.readyMirrors(), s.cache.leases(s.mirror)]).toEqual([[], [], 0]);
    // Stopped while a build runs: nothing is left either.
    const t = setup();
    t.spares.offer(server.repoUrl("spares"), "main");
    const ws = createWorkspace(t.workDir, nextId(), { git: true });
    (await prepareRepo({ ...t.deps, spares: null }, request(), ws, "run_mirror_only", new AbortController().signal)).lease?.release();
    await ws.remove();
    t.spares.offer(server.repoUrl("spares"), "main");
    await t.spares.stop();
    await removalsSettled();
    expect([spareDirs(t), t.spares.readyMirrors(), t.cache.leases(t.mirror)]).toEqual([[], [], 0]);
  });

  test("at start, spares a stopped process left are deleted", async () => {
    const s = setup({ size: 0 });
    mkdirSync(path.join(s.workDir, `${REPO_SPARE_PREFIX}abc`, "work", ".git"), { recursive: true });
    new RepoSpares({ workDir: s.workDir, size: 2, cache: s.cache, git: null, logger: createLogger({ level: "error", redactor: new Redactor(), sink: () => {} }) }).start();
    await removalsSettled();
    expect(spareDirs(s)).toEqual([]);
  });

  test("at most REPO_SPARES mirrors keep a spare: the least recently used one's goes", async () => {
    const s = setup({ size: 1 });
    await server.createRepo("spares-two", { files: { "two.txt": "two\n" } });
    const other = s.cache.pathFor(server.repoUrl("spares-two"));
    await runAndCapture(s, {});
    await spareReady(s);
    const ws = createWorkspace(s.workDir, nextId(), { git: true });
    const req = { ...request(), url: resolveRepositoryUrl(server.repoUrl("spares-two"), parsePrefixes([`${server.url}/`])) };
    (await prepareRepo(s.deps, req, ws, "run_two", new AbortController().signal)).lease?.release();
    await ws.remove();
    await waitFor(async () => (await s.spares.idle(), s.spares.readyMirrors().includes(other)), { what: "the second mirror's spare", timeoutMs: 30_000 });
    expect([s.spares.readyMirrors(), s.cache.leases(s.mirror)]).toEqual([[other], 0]);
    await removalsSettled();
    expect(spareDirs(s)).toHaveLength(1);
    await s.spares.stop();
  });
});

describe("through the server's composition", () => {
  const app = (sandbox: "off" | "bwrap", fields: { workDir?: string; cacheDir?: string } = {}) => {
    const t = testApp({ runner: new FakeRunner(async (input) => (await Bun.write(path.join(input.cwd, "app.txt"), "app\n"), { output: "done" })), allowedRepos: [`${server.url}/`], gitBinary: Bun.which("git"), gitToken: TOKEN, secrets: [TOKEN], cacheDir: fields.cacheDir ?? tempDir("ocs-spares-cache-"), sandbox });
    return t;
  };
  const post = async (t: TestApp) => {
    const res = await t.request("/run", json({ prompt: "work", repository: server.repoUrl("spares"), push: false }));
    return { status: res.status, body: await readJson(res) };
  };
  const taken = (t: TestApp) => t.logs.filter((l) => l.includes("the workspace is a repository spare")).length;
  const dirs = (t: TestApp) => readdirSync(t.workDir).filter((e) => e.startsWith(REPO_SPARE_PREFIX));

  test("under a sandbox the second run takes a spare; shutdown deletes the spare; SANDBOX=off makes none", async () => {
    const t = app("bwrap");
    expect((await post(t)).body).toMatchObject({ success: true, files_changed: ["app.txt"] });
    await waitFor(() => dirs(t).length === 1 && t.logs.some((l) => l.includes("a repository spare is ready")), { what: "a spare", timeoutMs: 30_000 });
    expect((await post(t)).body).toMatchObject({ success: true, files_changed: ["app.txt"] });
    expect(taken(t)).toBe(1);
    await waitFor(() => t.logs.filter((l) => l.includes("a repository spare is ready")).length === 2, { what: "the next spare", timeoutMs: 30_000 });
    await t.close();
    expect(dirs(t)).toEqual([]);
    const off = app("off");
    for (let i = 0; i < 2; i++) expect((await post(off)).body).toMatchObject({ success: true });
    expect([taken(off), dirs(off)]).toEqual([0, []]);
    await off.close();
  });

  test("at start the server deletes the repository spares a killed process left", async () => {
    const t = app("bwrap");
    await t.close();
    const stale = path.join(t.workDir, `${REPO_SPARE_PREFIX}0123456789ab`, "work");
    mkdirSync(path.join(stale, ".git"), { recursive: true });
    const again = testApp({ allowedRepos: [`${server.url}/`], gitBinary: Bun.which("git"), dataDir: t.dataDir, cacheDir: tempDir("ocs-spares-cache-"), sandbox: "bwrap", env: { WORK_DIR: t.workDir } });
    await waitFor(() => again.logs.some((l) => l.includes("deleted the repository spares a previous process left")), { what: "the start-up cleanup" });
    await again.close();
    expect(readdirSync(t.workDir).filter((e) => e.startsWith(REPO_SPARE_PREFIX))).toEqual([]);
  });
});

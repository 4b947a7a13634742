// 4. A run's repository onto disk, behind a throttled link: cold shallow clone vs a warm workspace per method, and four runs at once.
import { cpSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../src/config.ts";
import { repoDeps } from "../src/compose.ts";
import { gitIn } from "../src/git/git-client.ts";
import { MirrorCache } from "../src/git/mirror-cache.ts";
import * as repo from "../src/git/repository.ts";
import { parsePrefixes, resolveRepositoryUrl, type RepositoryUrl } from "../src/git/url-policy.ts";
import { createLogger } from "../src/lib/logger.ts";
import { Redactor } from "../src/lib/redact.ts";
import { prepareRepo } from "../src/runs/repo-clone.ts";
import { RepoSpares } from "../src/runs/repo-spares.ts";
import { clientOptions, type RepoDeps } from "../src/runs/repository.ts";
import { createWorkspace, type Workspace } from "../src/runs/workspace.ts";
import { git, startGitServer, type GitServer, type Throttle } from "../test/support/git-server.ts";
import { cachedRepo, packedBytes, REALISTIC, SMALL } from "./support/big-repo.ts";
import { median, ms, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

const TOKEN = "bench-git-token-0123456789";
/** The link the issue measured behind. */
const LINK: Throttle = { latencyMs: 40, bytesPerSecond: 10 * 1024 * 1024 };
const CACHE = process.env.OCS_CACHE_DIR ?? "/var/cache/opencode-server-ci";

/** Bytes of the files under `dir` (a worktree's .git is one small file). */
function bytesIn(dir: string): number {
  if (!statSync(dir).isDirectory()) return statSync(dir).size;
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += statSync(path.join(e.parentPath, e.name)).size;
  return total;
}

const mib = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

interface Env {
  server: GitServer;
  url: RepositoryUrl;
  home: string;
  workRoot: string;
  deps(kind: Kind): RepoDeps;
}

type Kind = "cold" | "copy" | "shared" | "spare";

let ids = 0;
const runId = () => `run_bench${String(++ids).padStart(6, "0")}aaaaaaaaaa`;

/** Time to a workspace ready for the agent (everything a run does before it), its .git's size, bytes downloaded. */
/** Makes a workspace; what it returns ends the workspace's hold on a mirror. */
type Make = (ws: Workspace, id: string) => Promise<(() => void) | null>;

async function timed(env: Env, make: Make): Promise<{ ms: number; gitBytes: number; downloaded: number }> {
  const id = runId();
  const ws = createWorkspace(env.workRoot, id, { git: true });
  const before = env.server.requests.length;
  try {
    const t = performance.now();
    const release = await make(ws, id);
    const took = performance.now() - t;
    const gitBytes = bytesIn(path.join(ws.dir, ".git"));
    release?.();
    const downloaded = env.server.requests.slice(before).filter((r) => r.service === "git-upload-pack" && r.method === "POST").reduce((s, r) => s + r.bytes, 0);
    return { ms: took, gitBytes, downloaded };
  } finally {
    // Removing thousands of files costs the same for every method and is not getting the repository.
    await ws.remove();
  }
}

const request = (env: Env) => ({ url: env.url, branch: null, base: null, push: false, pullRequest: null });
const prepare = (env: Env, kind: Kind): Make => async (ws, id) => {
  const prepared = await prepareRepo(env.deps(kind), request(env), ws, id, new AbortController().signal);
  return () => prepared.lease?.release();
};

/** `git worktree add` from a mirror of its own (for comparison only: the worktree shares the mirror's refs and config). */
function worktree(env: Env, mirror: string): Make {
  return async (ws, id) => {
    const opts = clientOptions(env.deps("copy"), ws, env.url, id, new AbortController().signal);
    await repo.fetchAllIntoMirror(gitIn(mirror, opts), env.url.href, true);
    rmSync(ws.dir, { recursive: true, force: true });
    await gitIn(mirror, opts).raw(["worktree", "add", "--quiet", "-b", `ws-${id}`, ws.dir, "main"]);
    return null;
  };
}

/**
 * The sequence before issue 19, re-created with the same git commands: ls-remote per run, then under one
 * lock per mirror the fetch of the branch AND the standalone clone — so four runs queue behind each other's clones.
 */
function previousWay(env: Env, mirror: string, lock: { tail: Promise<void> }): Make {
  return async (ws, id) => {
    const deps = env.deps("copy");
    const opts = clientOptions(deps, ws, env.url, id, new AbortController().signal);
    const info = await repo.lsRemote(gitIn(ws.root, opts), env.url.href, [`opencode/${id}`]);
    const branch = info.defaultBranch as string;
    const previous = lock.tail;
    let release!: () => void;
    lock.tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    await previous;
    try {
      await gitIn(mirror, opts).raw(["fetch", "--quiet", "--no-tags", "--", env.url.href, `+refs/heads/${branch}:refs/heads/${branch}`]);
      await repo.cloneFromMirror(gitIn(ws.root, opts), mirror, ws.dir, branch);
    } finally {
      release();
    }
    const wsGit = gitIn(ws.dir, opts);
    await repo.setOrigin(wsGit, env.url.href);
    await repo.createBranch(wsGit, `opencode/${id}`);
    return null;
  };
}

/** Writes back what the last measurement left dirty (a copy writes the whole history), so it does not slow the next one. */
async function settle(): Promise<void> {
  await Bun.spawn(["sync"]).exited;
}

async function wall(fns: (() => Promise<unknown>)[]): Promise<number> {
  const t = performance.now();
  await Promise.all(fns.map((f) => f()));
  return performance.now() - t;
}

export async function clone(ctx: BenchContext): Promise<BenchResult> {
  const shape = ctx.quick ? SMALL : REALISTIC;
  const rounds = ctx.quick ? 1 : 5;
  ctx.log(`clone: generating or reusing the ${ctx.quick ? "small" : "realistic"} repository in ${CACHE}`);
  const source = await cachedRepo(CACHE, shape);
  const server = startGitServer({ token: TOKEN, throttle: LINK });
  const home = tempDir("ocs-bench-clone-", os.tmpdir());
  try {
    const bare = await server.createRepo("big", { empty: true });
    rmSync(bare, { recursive: true, force: true });
    cpSync(source, bare, { recursive: true });
    await git(bare, "config", "http.receivepack", "true");
    const packed = await packedBytes(bare);
    const files = (await git(bare, "ls-tree", "-r", "--name-only", "main")).trim().split("\n").length;
    const commits = Number((await git(bare, "rev-list", "--count", "main")).trim());
    // A working copy that moves the remote on between rounds, as a busy repository does.
    const pusher = path.join(home, "pusher");
    await git(home, "clone", "--quiet", "--depth=1", `file://${bare}`, pusher);
    let revision = 0;
    const advance = async () => {
      await Bun.write(path.join(pusher, "CHANGELOG.md"), `revision ${++revision}\n`);
      await git(pusher, "add", "-A");
      await git(pusher, "commit", "--quiet", "-m", `revision ${revision}`);
      await git(pusher, "push", "--quiet", "origin", "main");
    };
    const base = { HOME: home, PATH: process.env.PATH ?? "/usr/bin:/bin", WORK_DIR: home, OPENCODE_AUTH_TOKEN: "unused-token-0123456789", GIT_TOKEN: TOKEN, ALLOWED_REPO_PREFIXES: `${server.url}/` };
    const gitBin = Bun.which("git");
    const cold = repoDeps(loadConfig({ ...base, DATA_DIR: path.join(home, "cold"), REPO_CACHE: "false" }), gitBin);
    const cacheOf = (name: string) => new MirrorCache(path.join(home, `mirrors-${name}`), 1024 ** 4);
    const warmConfig = loadConfig({ ...base, DATA_DIR: path.join(home, "warm") });
    const copy = { ...repoDeps(warmConfig, gitBin, cacheOf("copy")), shareMirror: false };
    const shared = { ...repoDeps(warmConfig, gitBin, cacheOf("shared")), shareMirror: true };
    const workRoot = path.join(home, "runs");
    mkdirSync(workRoot);
    // The server's default under bwrap and Landlock: a checkout made ahead for the mirror's next run.
    const spareCache = cacheOf("spare");
    // Every spare measurement must have taken a spare: counted from the server's own log line.
    let spareTaken = 0;
    const spares = new RepoSpares({ workDir: workRoot, size: 2, cache: spareCache, git: { binary: gitBin as string, baseEnv: warmConfig.git.baseEnv, inactivityTimeoutMs: warmConfig.git.inactivityTimeoutMs }, logger: createLogger({ level: "debug", redactor: new Redactor([TOKEN]), sink: (l) => {
      const line = JSON.parse(l) as { level: string; msg: string };
      if (line.msg.startsWith("the workspace is a repository spare")) spareTaken++;
      else if (line.level !== "debug") ctx.log(`clone: ${l}`);
    } }) });
    spares.start();
    const spare = { ...repoDeps(warmConfig, gitBin, spareCache), shareMirror: true, spares };
    const byKind: Record<Kind, RepoDeps> = { cold, copy, shared, spare };
    const env: Env = { server, url: resolveRepositoryUrl(server.repoUrl("big"), parsePrefixes([`${server.url}/`])), home, workRoot, deps: (k) => byKind[k] };
    const worktreeMirror = path.join(home, "mirror-worktree.git");
    const previousMirror = path.join(home, "mirror-previous.git");
    for (const m of [worktreeMirror, previousMirror]) await git(home, "init", "--quiet", "--bare", m);
    const methods = {
      cold: prepare(env, "cold"),
      copy: prepare(env, "copy"),
      shared: prepare(env, "shared"),
      worktree: worktree(env, worktreeMirror),
      spare: prepare(env, "spare"),
    };
    const lock = { tail: Promise.resolve() };
    // Fill every mirror once (untimed): warm means the mirror exists.
    for (const fn of [methods.copy, methods.shared, methods.worktree, methods.spare, previousWay(env, previousMirror, lock)]) await timed(env, fn);
    await spares.idle();
    const single: Record<keyof typeof methods, { ms: number[]; gitBytes: number; downloaded: number[] }> = {
      cold: { ms: [], gitBytes: 0, downloaded: [] },
      copy: { ms: [], gitBytes: 0, downloaded: [] },
      shared: { ms: [], gitBytes: 0, downloaded: [] },
      worktree: { ms: [], gitBytes: 0, downloaded: [] },
      spare: { ms: [], gitBytes: 0, downloaded: [] },
    };

    const four = { previous: [] as number[], copy: [] as number[], shared: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      // The remote moves on before every measurement, so each warm one fetches a real change (untimed).
      for (const key of Object.keys(methods) as (keyof typeof methods)[]) {
        await advance();
        const r = await timed(env, methods[key]);
        // The next spare is made between runs, as on a server: untimed, and before anything else is measured.
        if (key === "spare") await spares.idle();
        await settle();
        single[key].ms.push(r.ms);
        single[key].gitBytes = r.gitBytes;
        single[key].downloaded.push(r.downloaded);
      }
      await advance();
      four.previous.push(await wall([1, 2, 3, 4].map(() => () => timed(env, previousWay(env, previousMirror, lock)))));
      await settle();
      await advance();
      four.copy.push(await wall([1, 2, 3, 4].map(() => () => timed(env, methods.copy))));
      await settle();
      await advance();
      four.shared.push(await wall([1, 2, 3, 4].map(() => () => timed(env, methods.shared))));
      await settle();
      ctx.log(`clone: round ${i + 1}/${rounds} done`);
    }
    const coldMs = median(single.cold.ms);
    const sharedRatio = median(single.shared.ms) / coldMs;
    const spareRatio = median(single.spare.ms) / coldMs;
    const fourRatio = median(four.shared) / median(four.previous);
    await spares.stop();
    if (spareTaken !== rounds) throw new Error(`only ${spareTaken} of ${rounds} repository-spare measurements took a spare`);
    const labels: Record<keyof typeof methods, string> = {
      cold: "cold: shallow clone from the remote (REPO_CACHE=false, or a first run)",
      copy: "warm, `--no-hardlinks` copy of the mirror (SANDBOX=off)",
      shared: "warm, `--shared` clone borrowing the mirror's objects (bwrap, Landlock)",
      worktree: "warm, `git worktree add` from the mirror (measured, not used)",
      spare: "warm, checkout made ahead (repository spare, `REPO_SPARES`; bwrap, Landlock): moved to the new head",
    };
    const details = [
      "| workspace | p50 | vs cold | workspace `.git` | downloaded |",
      "|---|---|---|---|---|",
      ...(Object.keys(methods) as (keyof typeof methods)[]).map((k) => `| ${labels[k]} | ${ms(median(single[k].ms))} | ${(median(single[k].ms) / coldMs).toFixed(2)}× | ${mib(single[k].gitBytes)} | ${mib(median(single[k].downloaded))} |`),
      "",
      "| four runs on one repository at once | wall p50 | vs before |",
      "|---|---|---|",
      `| before: ls-remote each, one lock over fetch and clone | ${ms(median(four.previous))} | 1.00× |`,
      `| now, \`--no-hardlinks\` (SANDBOX=off): one shared fetch, clones in parallel | ${ms(median(four.copy))} | ${(median(four.copy) / median(four.previous)).toFixed(2)}× |`,
      `| now, \`--shared\` (bwrap, Landlock): one shared fetch, clones in parallel | ${ms(median(four.shared))} | ${fourRatio.toFixed(2)}× |`,
      "",
      `A generated repository (\`bench/support/big-repo.ts\`, cached in \`$OCS_CACHE_DIR\`): ${commits} commits, ${files} files (${shape.assets} binary assets), ${mib(packed)} packed, served by the loopback \`git http-backend\` behind ${LINK.bytesPerSecond / 1024 / 1024} MiB/s and ${LINK.latencyMs} ms per request. Before every measurement the remote gets a new commit, so each warm one fetches a real change (and a repository spare, made untimed after the previous measurement as it would be between runs, is moved to that new head). Times run from the start of the run's git work to a workspace on its branch (ls-remote where it is still made, fetch, clone, branch), WORK_DIR on ${os.tmpdir()}; ${rounds} round(s) after one untimed fill of each mirror, each measurement followed by an untimed \`sync\` (a standalone copy writes the whole history, whose write-back would otherwise slow whatever runs next).`,
    ];
    ctx.log(`clone: cold ${ms(coldMs)}, --shared ${ms(median(single.shared.ms))} (${sharedRatio.toFixed(2)}×), repository spare ${ms(median(single.spare.ms))} (${spareRatio.toFixed(2)}×), four at once ${ms(median(four.shared))} vs ${ms(median(four.previous))} before (${fourRatio.toFixed(2)}×)`);
    return {
      name: "4. Cold clone vs warm workspace from the mirror cache",
      target: "warm ≤ 0.25× cold; four concurrent ≤ 0.6× before",
      // The ratio of what the server does by default under a sandbox: a repository spare (REPO_SPARES=2).
      met: spareRatio <= 0.25 && fourRatio <= 0.6,
      summary: `warm ${spareRatio.toFixed(2)}× cold (repository spare; --shared clone ${sharedRatio.toFixed(2)}×); four at once ${fourRatio.toFixed(2)}× before`,
      details,
    };
  } finally {
    await server.stop();
    // The server's copy of the repository is hundreds of MiB: gone with the bench, not left for the test hook.
    rmSync(server.root, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
}

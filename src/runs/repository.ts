// A run's repository: cloned and branched before the agent, committed and pushed after — and the work never lost.
import { statfsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../errors.ts";
import { gitIn, type GitAuth, type GitClientOptions } from "../git/git-client.ts";
import type { MirrorCache } from "../git/mirror-cache.ts";
import * as repo from "../git/repository.ts";
import type { RepositoryUrl } from "../git/url-policy.ts";
import { RUN_COOKIE_VAR } from "../proc/process-tree.ts";
import { shortRunId } from "./ids.ts";
import type { Workspace } from "./workspace.ts";

export interface RepoDeps {
  /** Absolute path of git, or null when git is not installed. */
  gitBinary: string | null;
  /** PATH, proxy and CA variables for git. */
  gitBaseEnv: Record<string, string>;
  githubToken: string | null;
  gitToken: string | null;
  tokenUsername: string;
  cloneDepth: number;
  inactivityTimeoutMs: number;
  author: { name: string; email: string };
  /** Where commits that could not be pushed are saved as patches. */
  undeliveredDir: string;
  maxPatchBytes: number;
  /** Mirrors to clone from; null when the cache is off. */
  cache: MirrorCache | null;
}

export interface RepoRequest {
  url: RepositoryUrl;
  branch: string | null;
  base: string | null;
  push: boolean;
}

export interface PreparedRepo {
  request: RepoRequest;
  /** The branch the work goes to. */
  target: string;
  /** True when the server chose the branch name (opencode/<id>). */
  generated: boolean;
  baseBranch: string | null;
  baseCommit: string | null;
  trustedConfig: string;
}

export interface GitOutcome {
  repository: string;
  branch: string;
  baseBranch: string | null;
  baseCommit: string | null;
  commit: string | null;
  changed: boolean;
  filesChanged: string[];
  pushed: boolean;
  pushNote: string | null;
  /** The change as a diff, when the request asked not to push. */
  patch: string | null;
  patchTruncated: boolean;
  /** Where the commits were saved when they could not be pushed. */
  undeliveredPatch: string | null;
  /** Why the work could not be delivered (becomes push_failed). */
  deliveryError: string | null;
}

const shortId = shortRunId;
/** How long writing an undelivered patch may take (local only, no network). */
const SAVE_PATCH_MS = 30_000;

function authFor(deps: RepoDeps, url: RepositoryUrl): GitAuth | null {
  const token = url.host === "github.com" ? deps.githubToken : deps.gitToken;
  return token ? { origin: url.origin, username: deps.tokenUsername, token } : null;
}

function clientOptions(deps: RepoDeps, ws: Workspace, url: RepositoryUrl, runId: string, signal: AbortSignal): GitClientOptions {
  if (!deps.gitBinary) throw new AppError("internal", "git is not installed on the server: repository runs are unavailable");
  return {
    binary: deps.gitBinary,
    baseEnv: deps.gitBaseEnv,
    home: ws.gitHome,
    extraEnv: {
      [RUN_COOKIE_VAR]: runId,
      GIT_AUTHOR_NAME: deps.author.name,
      GIT_AUTHOR_EMAIL: deps.author.email,
      GIT_COMMITTER_NAME: deps.author.name,
      GIT_COMMITTER_EMAIL: deps.author.email,
    },
    auth: authFor(deps, url),
    allowHttp: url.protocol === "http:",
    inactivityTimeoutMs: deps.inactivityTimeoutMs,
    signal,
  };
}

/** git's words for a write that failed; a checkout that hits ENOSPC says only "unable to write file". */
const WRITE_FAILED = /unable to write|write error|could not write|No space left/i;

/** Bytes an unprivileged writer may still use on the filesystem holding `dir`; null when unknown. */
function freeBytes(dir: string): number | null {
  try {
    const fs = statfsSync(dir);
    return fs.bavail * fs.bsize;
  } catch {
    return null;
  }
}

function cloneFailed(url: RepositoryUrl, err: unknown, workspace?: Workspace): AppError {
  const reason = err instanceof Error ? err.message : String(err);
  const free = workspace && WRITE_FAILED.test(reason) ? freeBytes(workspace.root) : null;
  const hint = /could not read Username|Authentication failed|terminal prompts disabled|403/.test(reason)
    ? " (is GITHUB_TOKEN / GIT_TOKEN set, and may it read this repository?)"
    : free !== null
      ? ` (is the disk full? WORK_DIR has ${Math.floor(free / 1024)} KiB free)`
      : "";
  return new AppError("clone_failed", `Failed to clone repository ${url.href}: ${reason}${hint}`);
}

/** Clones the repository into the workspace and checks out the run's branch. */
export async function prepareRepo(deps: RepoDeps, request: RepoRequest, ws: Workspace, runId: string, signal: AbortSignal): Promise<PreparedRepo> {
  const opts = clientOptions(deps, ws, request.url, runId, signal);
  const target = request.branch ?? `opencode/${shortId(runId)}`;
  const outside = gitIn(ws.root, opts);
  let info: repo.RemoteInfo;
  try {
    info = await repo.lsRemote(outside, request.url.href, [...new Set([target, ...(request.base ? [request.base] : [])])]);
  } catch (err) {
    throw cloneFailed(request.url, err);
  }
  if (request.base && !info.heads.has(request.base)) {
    throw new AppError("invalid_request", `Unknown base branch "${request.base}": ${request.url.href} has no such branch`, { field: "base" });
  }
  const exists = info.heads.has(target);
  const baseBranch = exists ? target : (request.base ?? info.defaultBranch);
  const git = gitIn(ws.dir, opts);
  try {
    if (deps.cache && baseBranch) {
      await cloneThroughMirror(deps.cache, opts, request.url.href, ws.dir, baseBranch);
      await repo.setOrigin(git, request.url.href);
    } else {
      await repo.clone(outside, request.url.href, ws.dir, baseBranch, deps.cloneDepth);
    }
  } catch (err) {
    throw cloneFailed(request.url, err, ws);
  }
  if (!exists) await repo.createBranch(git, target);
  return {
    request,
    target,
    generated: request.branch === null,
    baseBranch,
    baseCommit: await repo.headCommit(git),
    trustedConfig: await repo.readConfig(ws.dir),
  };
}

/** Fetches what changed into the mirror and clones the workspace from it; a broken mirror is rebuilt once. */
async function cloneThroughMirror(cache: MirrorCache, opts: GitClientOptions, url: string, dir: string, branch: string): Promise<void> {
  await cache.use(url, async (mirror, exists) => {
    const outside = gitIn(cache.dir, opts);
    const fill = async () => {
      await repo.fetchIntoMirror(gitIn(mirror, opts), url, branch);
      await repo.cloneFromMirror(outside, mirror, dir, branch);
    };
    if (!exists) await repo.initMirror(outside, mirror);
    try {
      await fill();
    } catch (err) {
      // An existing mirror may hold a leftover lock or a damaged pack (a fetch killed mid-way):
      // start it over, once. A fresh mirror failing is the remote's fault.
      if (!exists || opts.signal.aborted) throw err;
      cache.discard(mirror);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { mode: 0o700 });
      await repo.initMirror(outside, mirror);
      await fill();
    }
  });
}

function subjectOf(prompt: string): string {
  const line = prompt.split("\n").find((l) => l.trim() !== "" && !l.startsWith("@fake ")) ?? "";
  const subject = line.trim().replace(/\s+/g, " ");
  return subject.length > 72 ? `${subject.slice(0, 71)}…` : subject;
}

export function commitMessage(prompt: string, runId: string, stopped: string | null): string {
  const subject = subjectOf(prompt) || `opencode run ${shortId(runId)}`;
  const body = stopped ? `The run stopped before finishing (${stopped}); this is its partial work.\n\n` : "";
  return `${stopped ? "WIP: " : ""}${subject}\n\n${body}Run-Id: ${runId}\n`;
}

export interface PublishOptions {
  runId: string;
  prompt: string;
  /** Set when the run did not succeed: its partial work goes to a side branch, never onto a named branch. */
  stopped: string | null;
}

/** Commits what the agent left and delivers it; never throws for git failures — they are in the outcome. */
export async function publishRepo(deps: RepoDeps, prepared: PreparedRepo, ws: Workspace, opts: PublishOptions, signal: AbortSignal): Promise<GitOutcome> {
  const { request } = prepared;
  const outcome: GitOutcome = {
    repository: request.url.href,
    branch: prepared.target,
    baseBranch: prepared.baseBranch,
    baseCommit: prepared.baseCommit,
    commit: prepared.baseCommit,
    changed: false,
    filesChanged: [],
    pushed: false,
    pushNote: null,
    patch: null,
    patchTruncated: false,
    undeliveredPatch: null,
    deliveryError: null,
  };
  const options = clientOptions(deps, ws, request.url, opts.runId, signal);
  const git = gitIn(ws.dir, options);
  let head: string | null;
  try {
    await repo.restoreTrustedConfig(ws.dir, prepared.trustedConfig);
    await repo.commitAll(git, commitMessage(opts.prompt, opts.runId, opts.stopped));
    head = await repo.headCommit(git);
  } catch (err) {
    outcome.deliveryError = `Could not commit the agent's changes: ${err instanceof Error ? err.message : String(err)}`;
    return outcome;
  }
  outcome.commit = head;
  outcome.changed = head !== null && head !== prepared.baseCommit;
  if (!outcome.changed || !head) return outcome;
  outcome.filesChanged = await repo.changedFiles(git, prepared.baseCommit, head).catch(() => []);

  if (!request.push) {
    const patch = await repo.diff(git, prepared.baseCommit, head).catch(() => "");
    outcome.patchTruncated = Buffer.byteLength(patch) > deps.maxPatchBytes;
    outcome.patch = outcome.patchTruncated ? Buffer.from(patch).subarray(0, deps.maxPatchBytes).toString() : patch;
    outcome.pushNote = "push: false — the commit was not pushed; the change is in patch";
    return outcome;
  }

  const side = `${prepared.target}-${shortId(opts.runId)}`;
  const first = opts.stopped && !prepared.generated ? side : prepared.target;
  let result = await repo.push(git, head, first);
  let branch = first;
  let note = opts.stopped ? `The run did not finish (${opts.stopped}); its partial work was pushed to "${first}"` : null;
  if (result.status === "rejected" && first !== side) {
    const rejected = result.reason;
    result = await repo.push(git, head, side);
    branch = side;
    note = `Push to "${first}" was rejected (${rejected}); the commit was pushed to "${side}" instead`;
  }
  if (result.status === "pushed") {
    return { ...outcome, branch, pushed: true, pushNote: note };
  }
  const reason = result.reason;
  outcome.deliveryError = `Push to "${branch}" failed: ${reason}`;
  try {
    await mkdir(deps.undeliveredDir, { recursive: true, mode: 0o700 });
    const file = path.join(deps.undeliveredDir, `${opts.runId}.patch`);
    // Its own deadline: the run's signal may be what just stopped the push.
    const local = gitIn(ws.dir, { ...options, signal: AbortSignal.timeout(SAVE_PATCH_MS) });
    await writeFile(file, await repo.formatPatch(local, prepared.baseCommit, head), { mode: 0o600 });
    outcome.undeliveredPatch = file;
    outcome.pushNote = `The commit could not be pushed; it was saved as ${file} (apply with git am)`;
  } catch (err) {
    outcome.pushNote = `The commit could not be pushed, and saving it failed too: ${err instanceof Error ? err.message : String(err)}`;
  }
  return outcome;
}

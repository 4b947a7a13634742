// Cloning a run's repository (through the mirror cache when it is on) and checking out the run's branch.
import { statfsSync } from "node:fs";
import path from "node:path";
import type { SimpleGit } from "simple-git";
import { AppError } from "../errors.ts";
import { gitIn, type GitClientOptions } from "../git/git-client.ts";
import type { MirrorCache, MirrorLease, MirrorSnapshot } from "../git/mirror-cache.ts";
import * as repo from "../git/repository.ts";
import type { RepositoryUrl } from "../git/url-policy.ts";
import { shortRunId } from "./ids.ts";
import { workspaceFromSpare } from "./repo-from-spare.ts";
import { mirrorSnapshot, workspaceFromMirror } from "./repo-mirror.ts";
import { clientOptions, type PreparedRepo, type RepoDeps, type RepoRequest } from "./repository.ts";
import type { Workspace } from "./workspace.ts";

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
  const target = request.branch ?? `opencode/${shortRunId(runId)}`;
  if (!deps.cache) return prepareDirect(deps, request, ws, opts, target);
  const lease = deps.cache.acquire(request.url.href);
  try {
    const prepared = await prepareThroughMirror(deps, deps.cache, lease, request, ws, opts, target);
    if (prepared) return prepared;
    // The remote has no branch to start from (an empty repository): nothing to share, cloned directly.
    lease.release();
    return await prepareDirect(deps, request, ws, opts, target);
  } catch (err) {
    lease.release();
    throw err;
  }
}

function unknownBase(request: RepoRequest, base: string): AppError {
  return new AppError("invalid_request", `Unknown base branch "${base}": ${request.url.href} has no such branch`, { field: "base" });
}

/** The branch to check out: the target when it exists, else the base or the remote's default branch. */
function startingPoint(request: RepoRequest, target: string, heads: Map<string, string>, defaultBranch: string | null): { exists: boolean; baseBranch: string | null } {
  if (request.base && !heads.has(request.base)) throw unknownBase(request, request.base);
  const exists = heads.has(target);
  return { exists, baseBranch: exists ? target : (request.base ?? defaultBranch) };
}

/** After the clone: the run's branch (made when new), and what publishing needs to trust later. */
async function finish(git: SimpleGit, ws: Workspace, fields: Omit<PreparedRepo, "baseCommit" | "remoteBase" | "trustedConfig">, exists: boolean): Promise<PreparedRepo> {
  if (!exists) await repo.createBranch(git, fields.target);
  const baseCommit = await repo.headCommit(git);
  return { ...fields, baseCommit, remoteBase: baseCommit, trustedConfig: await repo.readConfig(ws.dir) };
}

/** No cache (or nothing to share): one ls-remote, then a (shallow) clone straight from the remote. */
async function prepareDirect(deps: RepoDeps, request: RepoRequest, ws: Workspace, opts: GitClientOptions, target: string): Promise<PreparedRepo> {
  const outside = gitIn(ws.root, opts);
  let info: repo.RemoteInfo;
  try {
    info = await repo.lsRemote(outside, request.url.href, [...new Set([target, ...(request.base ? [request.base] : [])])]);
  } catch (err) {
    throw cloneFailed(request.url, err);
  }
  const { exists, baseBranch } = startingPoint(request, target, info.heads, info.defaultBranch);
  try {
    await repo.clone(outside, request.url.href, ws.dir, baseBranch, deps.cloneDepth);
  } catch (err) {
    throw cloneFailed(request.url, err, ws);
  }
  const fields = { request, target, generated: request.branch === null, baseBranch, defaultBranch: info.defaultBranch, sharedObjects: null, lease: null };
  return finish(gitIn(ws.dir, opts), ws, fields, exists);
}

/**
 * Through the mirror: the refs come from the shared fetch (no ls-remote), the workspace from the mirror.
 * Null when the remote has no branch to start from.
 */
async function prepareThroughMirror(deps: RepoDeps, cache: MirrorCache, lease: MirrorLease, request: RepoRequest, ws: Workspace, opts: GitClientOptions, target: string): Promise<PreparedRepo | null> {
  let snapshot: MirrorSnapshot;
  try {
    snapshot = await mirrorSnapshot(cache, lease, opts, request.url.href);
  } catch (err) {
    throw cloneFailed(request.url, err);
  }
  const { exists, baseBranch } = startingPoint(request, target, snapshot.heads, snapshot.defaultBranch);
  if (!baseBranch || !snapshot.heads.has(baseBranch)) return null;
  const git = gitIn(ws.dir, opts);
  let sharedObjects: string | null;
  const shared = deps.shareMirror === true;
  // A checkout made ahead (repository spares) only where workspaces borrow the mirror's objects anyway.
  const spares = shared && deps.spares?.enabled ? deps.spares : null;
  if (spares && (await workspaceFromSpare(spares, lease, snapshot, ws, opts, baseBranch))) {
    sharedObjects = path.join(lease.mirror, "objects");
  } else {
    try {
      sharedObjects = await workspaceFromMirror(cache, lease, opts, request.url.href, ws.dir, baseBranch, shared);
      await repo.setOrigin(git, request.url.href);
    } catch (err) {
      throw cloneFailed(request.url, err, ws);
    }
  }
  const fields = { request, target, generated: request.branch === null, baseBranch, defaultBranch: snapshot.defaultBranch, sharedObjects, lease: sharedObjects ? lease : null };
  const prepared = await finish(git, ws, fields, exists);
  // A standalone copy needs the mirror no longer: its lease ends with the clone.
  if (!sharedObjects) lease.release();
  // The run has its workspace: the next run on this repository gets one checked out ahead.
  if (spares && snapshot.defaultBranch) spares.offer(request.url.href, snapshot.defaultBranch);
  return prepared;
}

// Cloning a run's repository (through the mirror cache when it is on) and checking out the run's branch.
import { statfsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { AppError } from "../errors.ts";
import { gitIn, type GitClientOptions } from "../git/git-client.ts";
import type { MirrorCache } from "../git/mirror-cache.ts";
import * as repo from "../git/repository.ts";
import type { RepositoryUrl } from "../git/url-policy.ts";
import { shortRunId } from "./ids.ts";
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
  const baseCommit = await repo.headCommit(git);
  return { request, target, generated: request.branch === null, baseBranch, defaultBranch: info.defaultBranch, baseCommit, remoteBase: baseCommit, trustedConfig: await repo.readConfig(ws.dir) };
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

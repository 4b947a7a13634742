// The warm path of a run's repository: one shared fetch into the mirror, then a workspace made from it locally.
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { gitIn, type GitClientOptions } from "../git/git-client.ts";
import type { MirrorCache, MirrorLease, MirrorSnapshot } from "../git/mirror-cache.ts";
import * as repo from "../git/repository.ts";
import { RUN_COOKIE_VAR } from "../proc/process-tree.ts";

/** The file in a mirror naming the remote's default branch, as last learnt. */
const DEFAULT_FILE = "ocs-default-branch";

/**
 * Which branch the remote's HEAD names, without asking again when the fetch shows it unchanged: the
 * branch learnt before, if HEAD's commit is still that branch's, else the one branch at HEAD's commit;
 * only when that is ambiguous (or unknown) one `ls-remote --symref HEAD` settles it. A remote that
 * switches its default to another branch at the very same commit is noticed once they differ.
 */
async function defaultBranchOf(mirror: string, opts: GitClientOptions, url: string, heads: Map<string, string>, remoteHead: string | null): Promise<string | null> {
  if (remoteHead === null) return null;
  const file = Bun.file(path.join(mirror, DEFAULT_FILE));
  const known = (await file.exists()) ? (await file.text()).trim() : "";
  if (known && heads.get(known) === remoteHead) return known;
  const atHead = [...heads].filter(([, commit]) => commit === remoteHead).map(([name]) => name);
  const learnt = atHead.length === 1 ? (atHead[0] as string) : (await repo.lsRemote(gitIn(mirror, opts), url, [])).defaultBranch;
  if (learnt) await Bun.write(file, `${learnt}\n`);
  return learnt;
}

/** One fetch of every branch (and HEAD's commit) into the mirror; what the remote has now. */
async function fetchSnapshot(mirror: string, opts: GitClientOptions, url: string): Promise<MirrorSnapshot> {
  const mirrorGit = gitIn(mirror, opts);
  try {
    await repo.fetchAllIntoMirror(mirrorGit, url, true);
  } catch (err) {
    if (!(err instanceof Error) || !repo.NO_REMOTE_HEAD.test(err.message)) throw err;
    // No HEAD to fetch: an empty remote, or a HEAD naming no branch; its branches (if any) still count.
    await repo.fetchAllIntoMirror(mirrorGit, url, false);
    await repo.forgetRemoteHead(mirrorGit);
  }
  const { heads, remoteHead } = await repo.mirrorRefs(mirrorGit);
  return { heads, defaultBranch: await defaultBranchOf(mirror, opts, url, heads, remoteHead) };
}

/**
 * The fetch behind cache.refresh (under the mirror's lock): makes the mirror if needed; an existing
 * mirror that fails (a leftover lock, a damaged pack from a fetch killed mid-way) is started over once —
 * unless a live workspace borrows its objects, when the failure stands. A fresh mirror failing is the remote's fault
 * (a missing repository, a refused token, a cut connection): it is removed, so the cache keeps no mirror of it.
 */
async function syncMirror(cache: MirrorCache, mirror: string, opts: GitClientOptions, url: string): Promise<MirrorSnapshot> {
  const outside = gitIn(cache.dir, opts);
  const kept = (snapshot: MirrorSnapshot) => {
    // Nothing to share (an empty remote): no mirror is kept for it.
    if (snapshot.heads.size === 0) cache.discard(mirror);
    return snapshot;
  };
  const fresh = async () => {
    await repo.initMirror(outside, mirror);
    try {
      return kept(await fetchSnapshot(mirror, opts, url));
    } catch (err) {
      cache.discard(mirror);
      throw err;
    }
  };
  if (!existsSync(path.join(mirror, "HEAD"))) return fresh();
  try {
    return kept(await fetchSnapshot(mirror, opts, url));
  } catch (err) {
    if (opts.signal.aborted) throw err;
    if (!cache.discard(mirror)) throw new Error(`${err instanceof Error ? err.message : String(err)} (the mirror is damaged, and kept until the runs that borrow its objects end)`, { cause: err });
    return fresh();
  }
}

/** The shared fetch's git: the run's settings, but its own cookie and signal (it serves several runs, and outlives none). */
function fetchOptions(opts: GitClientOptions, mirror: string, signal: AbortSignal): GitClientOptions {
  return { ...opts, extraEnv: { ...opts.extraEnv, [RUN_COOKIE_VAR]: `mirror-${path.basename(mirror)}` }, signal };
}

/** The remote's refs as of a fetch that started after this call (shared with every run waiting for it). */
export function mirrorSnapshot(cache: MirrorCache, lease: MirrorLease, opts: GitClientOptions, url: string): Promise<MirrorSnapshot> {
  return cache.refresh(lease.mirror, opts.signal, (signal) => syncMirror(cache, lease.mirror, fetchOptions(opts, lease.mirror, signal), url));
}

/**
 * Makes the workspace `dir` at `branch` from the mirror: borrowing its objects (shared) or copying them.
 * A clone that fails on an existing mirror (objects missing, damaged) has the mirror rebuilt and tries once more.
 * Returns the objects directory the workspace borrows, or null.
 */
export async function workspaceFromMirror(cache: MirrorCache, lease: MirrorLease, opts: GitClientOptions, url: string, dir: string, branch: string, shared: boolean): Promise<string | null> {
  const outside = gitIn(path.dirname(dir), opts);
  const make = async () => {
    lease.borrow();
    if (shared) await repo.cloneSharedFromMirror(outside, lease.mirror, dir, branch);
    else await repo.cloneFromMirror(outside, lease.mirror, dir, branch);
  };
  try {
    await make();
  } catch (err) {
    lease.unborrow();
    if (opts.signal.aborted) throw err;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o700 });
    const again = await cache.refresh(lease.mirror, opts.signal, (signal) => {
      const fetchOpts = fetchOptions(opts, lease.mirror, signal);
      if (!cache.discard(lease.mirror)) throw err;
      return syncMirror(cache, lease.mirror, fetchOpts, url);
    });
    if (!again.heads.has(branch)) throw err;
    await make();
  }
  return shared ? path.join(lease.mirror, "objects") : null;
}

// A run's workspace from a repository spare: the checkout made ahead moved into place and brought to the run's commit.
import { mkdirSync, readFileSync, renameSync, rmdirSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { gitIn, type GitClientOptions } from "../git/git-client.ts";
import type { MirrorLease, MirrorSnapshot } from "../git/mirror-cache.ts";
import { mirrorHeadBranch, retargetSpare } from "../git/spare-retarget.ts";
import type { RepoSpares } from "./repo-spares.ts";
import type { Workspace } from "./workspace.ts";

/** Why the spare in `dir` is not what a clone from `mirror` would have made (a damaged or foreign spare); null when it is. */
function problemOf(dir: string, mirror: string): string | null {
  try {
    readFileSync(path.join(dir, ".git", "HEAD"));
  } catch {
    return "it has no .git/HEAD";
  }
  let alternates = "";
  try {
    alternates = readFileSync(path.join(dir, ".git", "objects", "info", "alternates"), "utf8").trim();
  } catch {
    return "it borrows no objects";
  }
  return alternates === path.join(mirror, "objects") ? null : `it borrows another mirror's objects (${alternates})`;
}

/**
 * Takes the mirror's spare into `ws.dir` at `branch` (its commit as the shared fetch left it): true when
 * done, and the run's lease borrows the mirror. False (logged) when there is none or it cannot be used:
 * `ws.dir` is then empty again and the caller clones as it would have.
 */
export async function workspaceFromSpare(spares: RepoSpares, lease: MirrorLease, snapshot: MirrorSnapshot, ws: Workspace, opts: GitClientOptions, branch: string): Promise<boolean> {
  const logger = spares.logger;
  const commit = snapshot.heads.get(branch);
  const spare = spares.take(lease.mirror);
  const mirror = path.basename(lease.mirror);
  if (!spare) {
    logger.debug("no repository spare ready for this mirror: the workspace is cloned", { mirror });
    return false;
  }
  if (!commit) {
    spare.done();
    logger.info("the mirror has no commit for the run's branch: a repository spare is dropped and the workspace cloned", { mirror, branch });
    return false;
  }
  lease.borrow();
  let moved = false;
  try {
    rmdirSync(ws.dir);
    try {
      renameSync(spare.dir, ws.dir);
      moved = true;
    } finally {
      if (!moved) mkdirSync(ws.dir, { mode: 0o700 });
    }
  } catch (err) {
    lease.unborrow();
    spare.done();
    logger.info("could not move a repository spare into the workspace: cloned instead", { mirror, error: err });
    return false;
  }
  // The checkout is the run's now: the run's lease holds the mirror from here on.
  spare.done();
  try {
    const problem = problemOf(ws.dir, lease.mirror);
    if (problem) throw new Error(`the spare is unusable: ${problem}`);
    await retargetSpare(gitIn(ws.dir, opts), ws.dir, { from: spare.branch, to: branch, commit, mirrorHead: await mirrorHeadBranch(lease.mirror) });
  } catch (err) {
    if (opts.signal.aborted) throw err;
    lease.unborrow();
    await rm(ws.dir, { recursive: true, force: true });
    await mkdir(ws.dir, { mode: 0o700 });
    logger.info("a repository spare could not be brought to the run's commit: cloned instead", { mirror, error: err });
    return false;
  }
  logger.debug("the workspace is a repository spare, moved to the run's commit", { mirror, branch, from: spare.branch });
  return true;
}

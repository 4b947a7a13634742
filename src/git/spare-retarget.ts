// Moves a workspace checked out ahead (a repository spare) to the branch and commit a run starts from, touching only what changed.
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import type { SimpleGit } from "simple-git";
import { gitMessage } from "./git-client.ts";
import { GitOperationError } from "./repository.ts";

async function run(git: SimpleGit, args: string[]): Promise<string> {
  try {
    return await git.raw(args);
  } catch (err) {
    throw new GitOperationError(gitMessage(err), { cause: err });
  }
}

/** The branch a mirror's HEAD names: the one branch whose clone from the mirror also gets `origin/HEAD`. */
export async function mirrorHeadBranch(mirror: string): Promise<string | null> {
  const head = (await readFile(path.join(mirror, "HEAD"), "utf8")).trim();
  return head.startsWith("ref: refs/heads/") ? head.slice("ref: refs/heads/".length) : null;
}

export interface Retarget {
  /** The branch the spare was cloned at (`clone --single-branch --branch from`). */
  from: string;
  /** The branch the run starts from, and its commit in the mirror now. */
  to: string;
  commit: string;
  /** The mirror's HEAD branch (see mirrorHeadBranch). */
  mirrorHead: string | null;
}

/**
 * Leaves `dir` (a `clone --shared --single-branch --branch from` of the mirror, origin set) exactly as
 * that clone at `to` would be now: the same config, refs, HEAD, index and files. The commit's objects
 * are in the mirror, which the spare borrows: nothing is fetched. `reset --hard` and `checkout` rewrite
 * only the files that differ.
 */
export async function retargetSpare(git: SimpleGit, dir: string, t: Retarget): Promise<void> {
  if (t.from === t.to) {
    await run(git, ["update-ref", `refs/remotes/origin/${t.to}`, t.commit]);
    await run(git, ["reset", "--quiet", "--hard", t.commit]);
  } else {
    await run(git, ["config", "remote.origin.fetch", `+refs/heads/${t.to}:refs/remotes/origin/${t.to}`]);
    await run(git, ["update-ref", `refs/remotes/origin/${t.to}`, t.commit]);
    await run(git, ["update-ref", "-d", `refs/remotes/origin/${t.from}`]);
    if (t.mirrorHead === t.to) await run(git, ["symbolic-ref", "refs/remotes/origin/HEAD", `refs/remotes/origin/${t.to}`]);
    else await run(git, ["update-ref", "--no-deref", "-d", "refs/remotes/origin/HEAD"]);
    await run(git, ["checkout", "--quiet", "-B", t.to, "--track", `origin/${t.to}`]);
    await run(git, ["branch", "--quiet", "-D", t.from]);
  }
  // A fresh clone has none; reset leaves the spare's old commit there.
  await rm(path.join(dir, ".git", "ORIG_HEAD"), { force: true });
}

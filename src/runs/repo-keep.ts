// Commits a run made but did not push (push: false, a failed push) kept for its follow-ups as a git bundle, and restored from it.
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../errors.ts";
import { gitIn } from "../git/git-client.ts";
import * as repo from "../git/repository.ts";
import { MAX_CONTINUATION_BYTES, type KeptCommits } from "./continuation.ts";
import { clientOptions, type GitOutcome, type PreparedRepo, type RepoDeps } from "./repository.ts";
import type { Workspace } from "./workspace.ts";

/** Local work only (no network): how long writing or reading a bundle may take. */
const BUNDLE_MS = 60_000;

/** The bundle file sits beside the agent's root, never inside it. */
const bundleFile = (ws: Workspace) => path.join(ws.root, "kept.bundle");

/**
 * The run's commits beyond what the remote has, when they were not pushed; null when there is nothing
 * to keep (no commit beyond the remote's, or pushed: a follow-up clones the branch). Throws when git fails.
 */
export async function keepCommits(deps: RepoDeps, prepared: PreparedRepo, ws: Workspace, git: GitOutcome, runId: string): Promise<KeptCommits | null> {
  // Unchanged by this run but started from kept commits: they are still unpushed, and kept again.
  if (git.pushed || !git.commit || git.commit === prepared.remoteBase) return null;
  const options = clientOptions(deps, ws, prepared.request.url, runId, AbortSignal.timeout(BUNDLE_MS));
  const file = bundleFile(ws);
  try {
    // Publishing restored these already, unless it stopped before: the agent's .git is never trusted.
    await repo.restoreTrustedConfig(ws.dir, prepared.trustedConfig, prepared.sharedObjects);
    await repo.createBundle(gitIn(ws.dir, options), file, prepared.target, prepared.remoteBase);
    const bundle = new Uint8Array(await readFile(file));
    if (bundle.length > MAX_CONTINUATION_BYTES) throw new Error(`the commits take ${bundle.length} bytes, over ${MAX_CONTINUATION_BYTES}`);
    return { branch: prepared.target, head: git.commit, prerequisite: prepared.remoteBase, bundle };
  } finally {
    await rm(file, { force: true });
  }
}

/**
 * Puts the freshly cloned workspace at the earlier run's kept commits (its branch was checked out or
 * created from base by prepareRepo): the agent sees its own earlier work. A shallow clone that lacks the
 * commit the bundle builds on fetches it.
 */
export async function restoreKept(deps: RepoDeps, prepared: PreparedRepo, ws: Workspace, kept: KeptCommits, runId: string, signal: AbortSignal): Promise<PreparedRepo> {
  const git = gitIn(ws.dir, clientOptions(deps, ws, prepared.request.url, runId, signal));
  const file = bundleFile(ws);
  try {
    if (kept.prerequisite && !(await repo.hasCommit(git, kept.prerequisite))) {
      // Servers may refuse a commit by id (uploadpack.allowReachableSHA1InWant): then the branch's whole history.
      await repo.fetchCommit(git, kept.prerequisite).catch(() => repo.unshallow(git));
    }
    await Bun.write(file, kept.bundle);
    await repo.checkoutBundle(git, file, kept.branch);
  } catch (err) {
    throw new AppError("clone_failed", `Could not restore the earlier run's unpushed commits (${kept.head.slice(0, 12)}): ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await rm(file, { force: true });
  }
  return { ...prepared, baseCommit: await repo.headCommit(git), remoteBase: kept.prerequisite };
}

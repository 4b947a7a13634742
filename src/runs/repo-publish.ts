// Committing what the agent left and delivering it: pushed, kept as a patch, or saved undelivered — never lost.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { gitIn } from "../git/git-client.ts";
import * as repo from "../git/repository.ts";
import { shortRunId } from "./ids.ts";
import { clientOptions, type GitOutcome, type PreparedRepo, type RepoDeps } from "./repository.ts";
import type { Workspace } from "./workspace.ts";

const shortId = shortRunId;
/** How long writing an undelivered patch may take (local only, no network). */
const SAVE_PATCH_MS = 30_000;

/** The prompt's first line (what a commit and a pull request are titled), clipped to 72 characters. */
export function commitSubject(prompt: string): string {
  const line = prompt.split("\n").find((l) => l.trim() !== "" && !l.startsWith("@fake ")) ?? "";
  const subject = line.trim().replace(/\s+/g, " ");
  return subject.length > 72 ? `${subject.slice(0, 71)}…` : subject;
}

export function commitMessage(prompt: string, runId: string, stopped: string | null): string {
  const subject = commitSubject(prompt) || `opencode run ${shortId(runId)}`;
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
    diff: null,
    diffTruncated: false,
    undeliveredPatch: null,
    deliveryError: null,
    pullRequest: null,
    pullRequestNote: null,
  };
  const options = clientOptions(deps, ws, request.url, opts.runId, signal);
  const git = gitIn(ws.dir, options);
  let head: string | null;
  try {
    await repo.restoreTrustedConfig(ws.dir, prepared.trustedConfig, prepared.sharedObjects);
    await repo.commitAll(git, commitMessage(opts.prompt, opts.runId, opts.stopped));
    head = await repo.headCommit(git);
  } catch (err) {
    outcome.deliveryError = `Could not commit the agent's changes: ${err instanceof Error ? err.message : String(err)}`;
    return outcome;
  }
  outcome.commit = head;
  outcome.changed = head !== null && head !== prepared.baseCommit;
  // A follow-up that started from commits kept on the server delivers them even if it changed nothing itself.
  if (!head || (!outcome.changed && head === prepared.remoteBase)) return outcome;
  if (outcome.changed) {
    outcome.filesChanged = await repo.changedFiles(git, prepared.baseCommit, head).catch(() => []);
    // Beside the agent's directory, never in it (the agent is gone; the file goes at once).
    const diff = await repo.diff(git, prepared.baseCommit, head, path.join(ws.root, "change.diff"), deps.maxPatchBytes).catch(() => null);
    if (diff !== null) {
      outcome.diff = diff.text;
      outcome.diffTruncated = diff.truncated;
    }
  }

  if (!request.push) {
    if (!outcome.changed) return outcome;
    outcome.patch = outcome.diff ?? "";
    outcome.patchTruncated = outcome.diffTruncated;
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

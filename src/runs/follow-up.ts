// A follow-up request becomes a run that continues an earlier one: its session, its branch or commit, its thread — or why not.
import { AppError } from "../errors.ts";
import { allowedRepository, RepositoryUrlError, type RepoPrefix } from "../git/url-policy.ts";
import type { RunInput } from "./admission.ts";
import { FINAL_STATUSES, type QueuedRequest, type RunRecord } from "./model.ts";

export interface FollowUp {
  request: QueuedRequest;
  parent: RunRecord;
  /** Runs of one conversation take turns: they share this lock, whatever branch each works on. */
  lock: string;
}

/** The lock every follow-up in a thread takes. */
export function threadLock(threadId: string): string {
  return `thread:${threadId}`;
}

/**
 * What the follow-up runs: the earlier run's model, agent and repository unless overridden, on the branch
 * that run delivered to (or its own branch name, for work the server kept rather than pushed).
 * `hasSession` says whether the store still holds that run's session history.
 */
export function followUpOf(input: RunInput, parent: RunRecord | null, parentId: string, hasSession: boolean, allowedRepos: readonly RepoPrefix[]): FollowUp {
  if (!parent) throw new AppError("not_found", `No run ${parentId}`);
  if (!FINAL_STATUSES.includes(parent.status)) {
    throw new AppError("run_not_finished", `Run ${parentId} is still ${parent.status}: continue it once it has ended`, { status: parent.status });
  }
  if (!parent.outcome?.session_id) {
    throw new AppError("session_gone", `Run ${parentId} has no opencode session to continue: it ended (${parent.code ?? parent.status}) before its agent started`);
  }
  if (!hasSession) throw new AppError("session_gone", `Run ${parentId}'s session history is no longer kept (it could not be saved when the run ended): it cannot be continued`);
  const push = input.continues?.push ?? null;
  const asked = input.continues?.pullRequest ?? null;
  let repository: QueuedRequest["repository"] = null;
  if (parent.repository) {
    let url: string;
    try {
      url = allowedRepository(new URL(parent.repository), allowedRepos).href;
    } catch (err) {
      if (err instanceof RepositoryUrlError) throw new AppError("repository_not_allowed", err.message);
      throw err;
    }
    const out = parent.outcome;
    const pushes = push ?? parent.push ?? true;
    // An inherited pull request follows the branch only while it is pushed; one asked for with push: false is a 400 already.
    const pullRequest = asked === false || !pushes ? null : (asked ?? parent.pullRequest);
    repository = { url, branch: out.branch ?? parent.branch, base: out.base_branch ?? parent.base, push: pushes, pullRequest };
  } else {
    for (const [field, value] of [["push", push], ["pull_request", asked || null]] as const) {
      if (value !== null) throw new AppError("invalid_request", `Invalid field "${field}": run ${parentId} worked on no repository`, { field });
    }
  }
  return {
    request: { prompt: input.prompt, model: input.model ?? parent.model, agent: input.agent ?? parent.agent, repository },
    parent,
    lock: threadLock(parent.threadId),
  };
}

// After the push: the pull request from the run's branch, opened or updated on its forge — or why there is none.
import { forgeClient } from "../git/forge/index.ts";
import { openOrUpdate } from "../git/forge/pull-request.ts";
import { siteFor } from "../git/forge/sites.ts";
import { ForgeError } from "../git/forge/types.ts";
import type { PullRequestResult, Usage } from "./model.ts";
import { pullRequestBody, updateComment, type RunSummary } from "./pull-request-body.ts";
import { commitSubject } from "./repo-publish.ts";
import { tokenFor, type GitOutcome, type PreparedRepo, type RepoDeps } from "./repository.ts";

export interface PullRequestStep {
  result: PullRequestResult | null;
  /** The branch it merges into. */
  base: string | null;
  /** Why there is none, when that is no failure (nothing pushed, the work is on the base branch). */
  note: string | null;
  /** Why opening it failed (becomes pull_request_failed; the push stands). */
  error: string | null;
}

export interface RunAccount {
  runId: string;
  prompt: string;
  /** The agent's text (redacted). */
  output: string;
  model: string | null;
  usage: Usage;
}

const none = (note: string): PullRequestStep => ({ result: null, base: null, note, error: null });

/** Where the pull request goes: as asked, else the branch a new branch started from, else the repository's default branch. */
function baseOf(prepared: PreparedRepo, head: string): string | null {
  const asked = prepared.request.pullRequest?.base ?? null;
  if (asked) return asked;
  for (const candidate of [prepared.request.base, prepared.baseBranch, prepared.defaultBranch]) {
    if (candidate && candidate !== head) return candidate;
  }
  return null;
}

/** Never throws: a forge's refusal is in `error`, with its message (the token never in it). */
export async function deliverPullRequest(deps: RepoDeps, prepared: PreparedRepo, git: GitOutcome, run: RunAccount, signal: AbortSignal): Promise<PullRequestStep> {
  const options = prepared.request.pullRequest;
  if (!options) return none("no pull request was asked for");
  if (!git.pushed) return none("nothing was pushed (the run changed nothing): no pull request");
  const head = git.branch;
  const base = baseOf(prepared, head);
  if (!base || base === head) return none(`the work is on "${head}", the base branch itself: no pull request`);
  const site = siteFor(deps.forges, prepared.request.url.href);
  if (!site) return { result: null, base, note: null, error: `No forge is known for ${prepared.request.url.href} (FORGES): the branch was pushed, no pull request was opened` };
  const summary: RunSummary = { runId: run.runId, model: run.model, usage: run.usage, filesChanged: git.filesChanged, publicUrl: deps.publicUrl, commit: git.commit };
  const auth = tokenFor(deps, prepared.request.url);
  try {
    const client = forgeClient(site.site, site.repoPath, auth, { ...deps.forgeHttp, signal, userAgent: deps.userAgent });
    const pr = await openOrUpdate(client, {
      head,
      base,
      title: options.title ?? (commitSubject(run.prompt) || `opencode run ${run.runId}`),
      body: pullRequestBody(options.body, run.output, summary),
      draft: options.draft,
      comment: updateComment(run.output, summary),
    });
    return { result: { url: pr.url, number: pr.number, action: pr.action }, base, note: null, error: null };
  } catch (err) {
    const reason = err instanceof ForgeError ? err.message : `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
    return { result: null, base, note: null, error: `The branch "${head}" was pushed, but the pull request into "${base}" could not be opened: ${reason}` };
  }
}

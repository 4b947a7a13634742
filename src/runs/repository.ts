// A run's repository: what cloning and publishing share (settings, the request, the outcome, git's options).
import { AppError } from "../errors.ts";
import type { PullRequestOptions, PullRequestResult } from "./model.ts";
import type { GitAuth, GitClientOptions } from "../git/git-client.ts";
import type { MirrorCache, MirrorLease } from "../git/mirror-cache.ts";
import type { ForgeHttpOptions } from "../git/forge/forge-http.ts";
import type { ForgeSite } from "../git/forge/types.ts";
import type { RepositoryUrl } from "../git/url-policy.ts";
import { RUN_COOKIE_VAR } from "../proc/process-tree.ts";
import type { RepoSpares } from "./repo-spares.ts";
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
  /**
   * Workspaces borrow the mirror's objects (`clone --shared`) instead of copying them. Only with a real
   * sandbox (bwrap, Landlock), which shows the agent that mirror's objects read-only; without one the agent
   * could write into the mirror, so workspaces stay standalone copies. Off when unset.
   */
  shareMirror?: boolean;
  /** Workspaces checked out ahead (only used with shareMirror); null or unset: none. */
  spares?: RepoSpares | null;
  /** Which forge serves which repositories (pull requests). */
  forges: readonly ForgeSite[];
  /** Timeouts and retries of forge API calls (tests shorten them). */
  forgeHttp: Omit<ForgeHttpOptions, "signal" | "userAgent">;
  userAgent: string;
  /** PUBLIC_URL: links to runs in pull requests; null: none. */
  publicUrl: string | null;
}

export interface RepoRequest {
  url: RepositoryUrl;
  branch: string | null;
  base: string | null;
  push: boolean;
  /** Open (or update) a pull request after the push; null: none. */
  pullRequest: PullRequestOptions | null;
}

export interface PreparedRepo {
  request: RepoRequest;
  /** The branch the work goes to. */
  target: string;
  /** True when the server chose the branch name (opencode/<id>). */
  generated: boolean;
  baseBranch: string | null;
  /** The remote's default branch (HEAD), where a pull request goes when nothing else says. */
  defaultBranch: string | null;
  baseCommit: string | null;
  /** The commit on the remote the work builds on (baseCommit, unless the work started from commits kept on the server). */
  remoteBase: string | null;
  trustedConfig: string;
  /** The mirror objects directory the workspace borrows (clone --shared): the agent sees it read-only; null: none. */
  sharedObjects: string | null;
  /** The run's hold on its mirror: released when the run is over (nothing reads the borrowed objects any more). */
  lease: MirrorLease | null;
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
  /** The change as a diff, for every run that changed something (the dashboard shows it; cut like patch). */
  diff: string | null;
  diffTruncated: boolean;
  /** Where the commits were saved when they could not be pushed. */
  undeliveredPatch: string | null;
  /** Why the work could not be delivered (becomes push_failed). */
  deliveryError: string | null;
  /** The pull request the branch is in, when one was asked for and opened or updated. */
  pullRequest: PullRequestResult | null;
  /** Why a pull request asked for was not opened, when that is no failure. */
  pullRequestNote: string | null;
}

/** GITHUB_TOKEN for github.com, GIT_TOKEN elsewhere: for git and for the forge's API alike. */
export function tokenFor(deps: Pick<RepoDeps, "githubToken" | "gitToken">, url: RepositoryUrl): string | null {
  return url.host === "github.com" ? deps.githubToken : deps.gitToken;
}

function authFor(deps: RepoDeps, url: RepositoryUrl): GitAuth | null {
  const token = tokenFor(deps, url);
  return token ? { origin: url.origin, username: deps.tokenUsername, token } : null;
}

export function clientOptions(deps: RepoDeps, ws: Workspace, url: RepositoryUrl, runId: string, signal: AbortSignal): GitClientOptions {
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

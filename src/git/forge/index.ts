// The pull-request client for a repository's forge site.
import type { ForgeHttpOptions } from "./forge-http.ts";
import { giteaClient } from "./gitea.ts";
import { githubClient } from "./github.ts";
import { gitlabClient } from "./gitlab.ts";
import type { ForgeClient, ForgeSite } from "./types.ts";

export type { ForgeHttpOptions } from "./forge-http.ts";
export { openOrUpdate } from "./pull-request.ts";
export { parseForges, siteFor, withDefaults } from "./sites.ts";
export { FORGE_KINDS, ForgeError, type ForgeClient, type ForgeKind, type ForgeSite, type PullRequestRef } from "./types.ts";

/** `repoPath` as siteFor gives it (owner/repo; group/sub/project on GitLab); a null token sends no credentials. */
export function forgeClient(site: ForgeSite, repoPath: string, token: string | null, opts: ForgeHttpOptions): ForgeClient {
  switch (site.kind) {
    case "github":
      return githubClient(site.apiUrl, repoPath, token, opts);
    case "gitlab":
      return gitlabClient(site.apiUrl, repoPath, token, opts);
    case "gitea":
      return giteaClient(site.apiUrl, repoPath, token, opts);
  }
}

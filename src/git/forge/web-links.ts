// Where a branch and a commit are on a forge's own web pages (each forge spells those paths its own way).
import { siteFor } from "./sites.ts";
import type { ForgeKind, ForgeSite } from "./types.ts";

export interface WebLinks {
  branch: string | null;
  commit: string | null;
}

const PATHS: Record<ForgeKind, { branch: string; commit: string }> = {
  github: { branch: "tree", commit: "commit" },
  gitlab: { branch: "-/tree", commit: "-/commit" },
  gitea: { branch: "src/branch", commit: "commit" },
};

const encodePath = (p: string) => p.split("/").map(encodeURIComponent).join("/");

/** The pages of `branch` and `commit` in repository `repoHref`; null when no configured forge serves it. */
export function webLinks(sites: readonly ForgeSite[], repoHref: string, branch: string | null, commit: string | null): WebLinks | null {
  const found = siteFor(sites, repoHref);
  if (!found) return null;
  const origin = new URL(found.site.prefix).origin;
  const base = `${origin}/${encodePath(found.repoPath)}`;
  const paths = PATHS[found.site.kind];
  return {
    branch: branch ? `${base}/${paths.branch}/${encodePath(branch)}` : null,
    commit: commit && /^[0-9a-f]{7,64}$/.test(commit) ? `${base}/${paths.commit}/${commit}` : null,
  };
}

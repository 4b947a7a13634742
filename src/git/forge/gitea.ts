// Pull requests on Gitea and Forgejo (same API), whose list endpoint has no head filter: pages are searched here.
import { z } from "zod";
import { ForgeHttp, type ForgeHttpOptions } from "./forge-http.ts";
import { numberSegment, ownerAndRepo, webUrl, type ForgeClient, type PullRequestRef } from "./types.ts";

const Branch = z.object({ ref: z.string(), repo_id: z.number().optional() });
const Pull = z.object({ number: z.number().int().positive(), html_url: webUrl, state: z.string(), head: Branch, base: Branch });
type Pull = z.infer<typeof Pull>;
const Comment = z.object({ id: z.number() });

const PAGE_SIZE = 50;
// 1,000 open pull requests: a repository with more is searched no further (and a create then meets the forge's own 409).
const MAX_PAGES = 20;

const ref = (p: Pull): PullRequestRef => ({ number: p.number, url: p.html_url });

// Gitea's default WORK_IN_PROGRESS_PREFIXES are "WIP:" and "[WIP]"; the API has no draft flag on create.
const draftTitle = (title: string) => (/^\s*(wip:|\[wip\])/i.test(title) ? title : `WIP: ${title}`);

export function giteaClient(apiUrl: string, repoPath: string, token: string | null, opts: ForgeHttpOptions): ForgeClient {
  const [owner, repo] = ownerAndRepo(repoPath, "Gitea");
  const http = new ForgeHttp("Gitea", apiUrl, token ? { Authorization: `token ${token}` } : {}, token, opts);
  const root = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;

  async function findOpen(head: string, base: string | null): Promise<PullRequestRef | null> {
    for (let page = 1; page <= MAX_PAGES; page++) {
      const query = { state: "open", page: String(page), limit: String(PAGE_SIZE) };
      const pulls = await http.request({ method: "GET", path: `${root}/pulls`, query, parse: (j) => z.array(Pull).parse(j) });
      const match = pulls.find(
        (p) =>
          p.state === "open" &&
          p.head.ref === head &&
          (base === null || p.base.ref === base) &&
          // A fork's pull request may use the same branch name: only this repository's own branch is ours.
          (p.head.repo_id === undefined || p.head.repo_id === p.base.repo_id),
      );
      if (match) return ref(match);
      // An empty page, not a short one, is the end: the server may cap `limit` below what was asked (MAX_RESPONSE_ITEMS).
      if (pulls.length === 0) return null;
    }
    return null;
  }

  return {
    findOpen,
    create: (p) =>
      http.request({
        method: "POST",
        path: `${root}/pulls`,
        body: { head: p.head, base: p.base, title: p.draft ? draftTitle(p.title) : p.title, body: p.body },
        parse: (j) => ref(Pull.parse(j)),
        recover: () => findOpen(p.head, p.base),
        alreadyExists: (status) => status === 409,
      }),
    async updateBody(number, body) {
      // Gitea answers an edit with 201, not 200.
      await http.request({ method: "PATCH", path: `${root}/pulls/${numberSegment(number)}`, body: { body }, parse: (j) => Pull.parse(j) });
    },
    async comment(number, body) {
      await http.request({ method: "POST", path: `${root}/issues/${numberSegment(number)}/comments`, body: { body }, parse: (j) => Comment.parse(j) });
    },
  };
}

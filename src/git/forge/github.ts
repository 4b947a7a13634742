// Pull requests on GitHub and GitHub Enterprise Server (same REST paths under the site's API URL).
import { z } from "zod";
import { ForgeHttp, type ForgeHttpOptions } from "./forge-http.ts";
import { numberSegment, ownerAndRepo, webUrl, type ForgeClient, type PullRequestRef } from "./types.ts";

const Pull = z.object({
  number: z.number().int().positive(),
  html_url: webUrl,
  state: z.string(),
  head: z.object({ ref: z.string() }),
  base: z.object({ ref: z.string() }),
});
type Pull = z.infer<typeof Pull>;
const Comment = z.object({ id: z.number() });

const ref = (p: Pull): PullRequestRef => ({ number: p.number, url: p.html_url });

export function githubClient(apiUrl: string, repoPath: string, token: string | null, opts: ForgeHttpOptions): ForgeClient {
  const [owner, repo] = ownerAndRepo(repoPath, "GitHub");
  const headers: Record<string, string> = { Accept: "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const http = new ForgeHttp("GitHub", apiUrl, headers, token, opts);
  const root = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;

  async function findOpen(head: string, base: string | null): Promise<PullRequestRef | null> {
    // `head` must be "owner:branch": GitHub ignores a bare branch name and lists every pull request.
    const query: Record<string, string> = { state: "open", head: `${owner}:${head}` };
    if (base !== null) query.base = base;
    const pulls = await http.request({ method: "GET", path: `${root}/pulls`, query, parse: (j) => z.array(Pull).parse(j) });
    // Checked again here, so a server that ignored a filter cannot hand back somebody else's pull request.
    const match = pulls.find((p) => p.state === "open" && p.head.ref === head && (base === null || p.base.ref === base));
    return match ? ref(match) : null;
  }

  return {
    findOpen,
    create: (p) =>
      http.request({
        method: "POST",
        path: `${root}/pulls`,
        body: { title: p.title, head: p.head, base: p.base, body: p.body, draft: p.draft },
        parse: (j) => ref(Pull.parse(j)),
        recover: () => findOpen(p.head, p.base),
        // 422 "Validation Failed" covers much else ("No commits between …"): only this message means a duplicate.
        alreadyExists: (status, message) => status === 422 && /pull request already exists/i.test(message),
      }),
    async updateBody(number, body) {
      await http.request({ method: "PATCH", path: `${root}/pulls/${numberSegment(number)}`, body: { body }, parse: (j) => Pull.parse(j) });
    },
    async comment(number, body) {
      // Conversation comments on a pull request are issue comments; /pulls/{n}/comments are review comments on lines.
      await http.request({ method: "POST", path: `${root}/issues/${numberSegment(number)}/comments`, body: { body }, parse: (j) => Comment.parse(j) });
    },
  };
}

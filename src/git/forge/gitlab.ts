// Merge requests on GitLab (gitlab.com or self-managed), the project addressed by its URL-encoded path.
import { z } from "zod";
import { ForgeHttp, type ForgeHttpOptions } from "./forge-http.ts";
import { ForgeError, numberSegment, webUrl, type ForgeClient, type PullRequestRef } from "./types.ts";

const MergeRequest = z.object({
  iid: z.number().int().positive(),
  web_url: webUrl,
  state: z.string(),
  source_branch: z.string(),
  target_branch: z.string(),
  source_project_id: z.number().optional(),
  target_project_id: z.number().optional(),
});
type MergeRequest = z.infer<typeof MergeRequest>;
const Note = z.object({ id: z.number() });

const ref = (mr: MergeRequest): PullRequestRef => ({ number: mr.iid, url: mr.web_url });

// GitLab marks a merge request as a draft by its title prefix ("Draft:", "[Draft]", "(Draft)"): never doubled.
const draftTitle = (title: string) => (/^\s*(draft:|\[draft\]|\(draft\))/i.test(title) ? title : `Draft: ${title}`);

export function gitlabClient(apiUrl: string, repoPath: string, token: string | null, opts: ForgeHttpOptions): ForgeClient {
  const segments = repoPath.split("/");
  if (segments.length < 2 || segments.some((s) => s === "")) {
    throw new ForgeError(`GitLab: repository path "${repoPath}" is not group/project`, { status: null, kind: "invalid_request", retryable: false });
  }
  const http = new ForgeHttp("GitLab", apiUrl, token ? { "PRIVATE-TOKEN": token } : {}, token, opts);
  // The whole path, "/" included, is one encoded segment: group%2Fsub%2Fproject.
  const root = `/projects/${encodeURIComponent(repoPath)}/merge_requests`;

  async function findOpen(head: string, base: string | null): Promise<PullRequestRef | null> {
    const query: Record<string, string> = { state: "opened", source_branch: head };
    if (base !== null) query.target_branch = base;
    const mrs = await http.request({ method: "GET", path: root, query, parse: (j) => z.array(MergeRequest).parse(j) });
    const match = mrs.find(
      (mr) =>
        mr.state === "opened" &&
        mr.source_branch === head &&
        (base === null || mr.target_branch === base) &&
        // A fork's merge request into this project may use the same branch name: only this project's own branch is ours.
        (mr.source_project_id === undefined || mr.source_project_id === mr.target_project_id),
    );
    return match ? ref(match) : null;
  }

  return {
    findOpen,
    create: (p) =>
      http.request({
        method: "POST",
        path: root,
        body: { source_branch: p.head, target_branch: p.base, title: p.draft ? draftTitle(p.title) : p.title, description: p.body },
        parse: (j) => ref(MergeRequest.parse(j)),
        recover: () => findOpen(p.head, p.base),
        alreadyExists: (status) => status === 409,
      }),
    async updateBody(number, body) {
      await http.request({ method: "PUT", path: `${root}/${numberSegment(number)}`, body: { description: body }, parse: (j) => MergeRequest.parse(j) });
    },
    async comment(number, body) {
      await http.request({ method: "POST", path: `${root}/${numberSegment(number)}/notes`, body: { body }, parse: (j) => Note.parse(j) });
    },
  };
}

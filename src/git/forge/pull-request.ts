// Opens the pull request for a pushed branch, or refreshes the one already open for it.
import { ForgeError, type ForgeClient, type PullRequestRef } from "./types.ts";

export interface PullRequestPlan {
  head: string;
  base: string;
  title: string;
  body: string;
  draft: boolean;
  /** Posted on an existing pull request when it is updated, so its followers hear of the new push. */
  comment: string;
}

export async function openOrUpdate(client: ForgeClient, p: PullRequestPlan): Promise<PullRequestRef & { action: "created" | "updated" }> {
  const update = async (existing: PullRequestRef) => {
    await client.updateBody(existing.number, p.body);
    await client.comment(existing.number, p.comment);
    return { ...existing, action: "updated" as const };
  };
  const existing = await client.findOpen(p.head, p.base);
  if (existing) return update(existing);
  try {
    const created = await client.create({ head: p.head, base: p.base, title: p.title, body: p.body, draft: p.draft });
    return { ...created, action: "created" };
  } catch (err) {
    // Another run opened it between the lookup and the create: that one is ours to update.
    if (!(err instanceof ForgeError) || err.kind !== "already_exists") throw err;
    const raced = await client.findOpen(p.head, p.base);
    if (!raced) throw err;
    return update(raced);
  }
}

// A run's private directory (agent working dir + TMPDIR), created fresh and always removed.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { shortRunId } from "./ids.ts";

export interface Workspace extends AsyncDisposable {
  /** The run's root directory; everything below it is removed at the end. */
  readonly root: string;
  /** Where the agent works. */
  readonly dir: string;
  /** The agent's TMPDIR. */
  readonly tmp: string;
  /** An empty HOME for the server's own git commands (outside the agent's directory). */
  readonly gitHome: string;
  remove(): Promise<void>;
}

export const WORKSPACE_PREFIX = "opencode-run-";

/** Every workspace of a run starts with this (recovery finds a crashed run's directories by it). */
export function workspacePrefix(runId: string): string {
  return `${WORKSPACE_PREFIX}${shortRunId(runId)}-`;
}

export async function createWorkspace(workRoot: string, runId: string): Promise<Workspace> {
  const root = await mkdtemp(path.join(workRoot, `${workspacePrefix(runId)}`));
  const dir = path.join(root, "work");
  const tmp = path.join(root, "tmp");
  const gitHome = path.join(root, "git-home");
  await Promise.all([dir, tmp, gitHome].map((d) => mkdir(d, { mode: 0o700 })));
  let removed: Promise<void> | undefined;
  const remove = () => (removed ??= rm(root, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 }));
  return { root, dir, tmp, gitHome, remove, [Symbol.asyncDispose]: remove };
}

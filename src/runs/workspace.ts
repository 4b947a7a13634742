// A run's private directory (the agent's sandbox root, its working dir, HOME and TMPDIR), created fresh and always removed.
import { mkdirSync, mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { shortRunId } from "./ids.ts";

export interface Workspace extends AsyncDisposable {
  /** The run's root directory; everything below it is removed at the end. */
  readonly root: string;
  /** The agent's part, the only place its sandbox can write: root/agent. */
  readonly agentRoot: string;
  /** Where the agent works: agentRoot/work. */
  readonly dir: string;
  /** The agent's private HOME (opencode's XDG directories for this run): agentRoot/home. */
  readonly home: string;
  /** The agent's TMPDIR: the agent root itself, so a run costs one directory fewer to create and remove. */
  readonly tmp: string;
  /**
   * An empty HOME for the server's own git commands: beside the agent's root, never inside it, so
   * no agent can plant a ~/.gitconfig that a later clone or push (which holds the token) would obey.
   */
  readonly gitHome: string;
  remove(): Promise<void>;
}

export const WORKSPACE_PREFIX = "opencode-run-";

/** Every workspace of a run starts with this (recovery finds a crashed run's directories by it). */
export function workspacePrefix(runId: string): string {
  return `${WORKSPACE_PREFIX}${shortRunId(runId)}-`;
}

/**
 * Creates the directories synchronously (a few microseconds each, cheaper than a trip through the
 * thread pool); removes the tree asynchronously (opencode's files, a clone, an npm install would
 * stall the event loop).
 */
export function createWorkspace(workRoot: string, runId: string, opts: { git: boolean } = { git: false }): Workspace {
  const root = mkdtempSync(path.join(workRoot, workspacePrefix(runId)));
  const agentRoot = path.join(root, "agent");
  const dir = path.join(agentRoot, "work");
  const home = path.join(agentRoot, "home");
  const gitHome = path.join(root, "git-home");
  for (const d of opts.git ? [agentRoot, dir, home, gitHome] : [agentRoot, dir, home]) mkdirSync(d, { mode: 0o700 });
  let removed: Promise<void> | undefined;
  const remove = () =>
    (removed ??= (async () => {
      await rm(root, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
    })());
  return { root, agentRoot, dir, home, tmp: agentRoot, gitHome, remove, [Symbol.asyncDispose]: remove };
}

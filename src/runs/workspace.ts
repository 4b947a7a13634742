// A run's private directory (the agent's sandbox root, its working dir, HOME and TMPDIR), created fresh and always removed.
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import type { FurnishedHome } from "../opencode/types.ts";
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
  /** The home was furnished ahead with a run's own files (a spare workspace's): for the runner. */
  readonly furnished?: FurnishedHome | null;
  /** Resolves once the tree is gone from disk. */
  remove(): Promise<void>;
  /**
   * Moves the tree out of its path at once (one rename) and deletes it in the background: the run's
   * answer does not wait for the deletion, and the path is free for the thread's next run.
   */
  [Symbol.asyncDispose](): Promise<void>;
}

export const WORKSPACE_PREFIX = "opencode-run-";
/** Workspaces on their way out; whatever a crash left under this prefix is removed at start-up. */
export const TRASH_PREFIX = "opencode-trash-";

/** Deletions in the background (see asyncDispose): shutdown waits for them. */
const removing = new Set<Promise<void>>();

/** Resolves once every workspace moved aside so far is deleted. */
export async function removalsSettled(): Promise<void> {
  while (removing.size > 0) await Promise.all([...removing]);
}

/** A warm agent's workspace (made before its run exists): `opencode-warm-<replica tag>-<random>`. */
export const WARM_WORKSPACE_PREFIX = "opencode-warm-";

/**
 * A follow-up of a warm agent's run continues in the warm workspace's path (opencode keeps the
 * directory in its session): that root, when `sessionDir` is a warm workspace's work dir under `workRoot`.
 */
export function warmRootOf(workRoot: string, sessionDir: string): string | null {
  const root = path.dirname(path.dirname(sessionDir));
  const name = path.basename(root);
  const ok = path.dirname(root) === path.resolve(workRoot) && name.startsWith(WARM_WORKSPACE_PREFIX) && /^[A-Za-z0-9-]+$/.test(name);
  return ok && sessionDir === path.join(root, "agent", "work") ? root : null;
}

/** Every workspace of a run starts with this (recovery finds a crashed run's directories by it). */
export function workspacePrefix(runId: string): string {
  return `${WORKSPACE_PREFIX}${shortRunId(runId)}-`;
}

/**
 * Where the runs of one conversation work: the same path for each of them, because opencode keeps the
 * directory in its session and a continued session works there (measured: `run --session` in another
 * directory opens the old one). Runs of a thread never overlap, so the path is free when one starts.
 */
export function workspaceRoot(workRoot: string, threadId: string): string {
  return path.join(workRoot, `${workspacePrefix(threadId)}${threadId.replaceAll("-", "")}`);
}

/** The paths of a workspace rooted at `root`. */
export function workspaceLayout(root: string): { agentRoot: string; dir: string; home: string; gitHome: string } {
  const agentRoot = path.join(root, "agent");
  return { agentRoot, dir: path.join(agentRoot, "work"), home: path.join(agentRoot, "home"), gitHome: path.join(root, "git-home") };
}

/** Deletes a tree in the background, counted in removalsSettled. */
export function deleteLater(at: string): void {
  const deleting = rm(at, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 }).finally(() => removing.delete(deleting));
  removing.add(deleting);
}

/** Deletes, in the background, what a stopped process left in `workDir` under `prefix`; how many there were. */
export function deleteLeftovers(workDir: string, prefix: string): number {
  let left: string[] = [];
  try {
    left = readdirSync(workDir).filter((e) => e.startsWith(prefix));
  } catch {
    // No WORK_DIR yet: nothing was left.
  }
  for (const e of left) deleteLater(path.join(workDir, e));
  return left.length;
}

/** A workspace over a tree that exists at `root`. */
export function openWorkspace(root: string): Workspace {
  const { agentRoot, dir, home, gitHome } = workspaceLayout(root);
  let removed: Promise<void> | undefined;
  const remove = () => (removed ??= rm(root, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 }));
  const discard = async () => {
    if (removed) return;
    const at = path.join(path.dirname(root), `${TRASH_PREFIX}${randomBytes(6).toString("hex")}`);
    try {
      renameSync(root, at);
    } catch {
      // Not movable (gone already): deleted where it is, and waited for.
      await remove();
      return;
    }
    deleteLater(at);
    removed = Promise.resolve();
  };
  return { root, agentRoot, dir, home, tmp: agentRoot, gitHome, remove, [Symbol.asyncDispose]: discard };
}

/**
 * Creates the directories synchronously (a few microseconds each, cheaper than a trip through the
 * thread pool); removes the tree asynchronously (opencode's files, a clone, an npm install would
 * stall the event loop). `threadId` is the run's conversation (its own id for a first run).
 */
export function createWorkspace(workRoot: string, threadId: string, opts: { git: boolean; root?: string } = { git: false }): Workspace {
  const root = opts.root ?? workspaceRoot(workRoot, threadId);
  try {
    mkdirSync(root, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    // Left by an earlier run of the thread whose process died (its replica, on a shared store): not in use.
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { mode: 0o700 });
  }
  const { agentRoot, dir, home, gitHome } = workspaceLayout(root);
  for (const d of opts.git ? [agentRoot, dir, home, gitHome] : [agentRoot, dir, home]) mkdirSync(d, { mode: 0o700 });
  return openWorkspace(root);
}

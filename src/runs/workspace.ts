// A run's private directory (agent working dir + TMPDIR), created fresh and always removed.
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, unlinkSync, type Dirent } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { shortRunId } from "./ids.ts";

export interface Workspace extends AsyncDisposable {
  /** The run's root directory; everything below it is removed at the end. */
  readonly root: string;
  /** Where the agent works: root/work. */
  readonly dir: string;
  /** The agent's TMPDIR: the root itself, so a run costs one directory fewer to create and remove. */
  readonly tmp: string;
  /** An empty HOME for the server's own git commands (outside the agent's directory). */
  readonly gitHome: string;
  remove(): Promise<void>;
}

export const WORKSPACE_PREFIX = "opencode-run-";
/** A workspace this small is removed synchronously; anything bigger off the event loop. */
const SMALL_TREE_ENTRIES = 32;

/** Every workspace of a run starts with this (recovery finds a crashed run's directories by it). */
export function workspacePrefix(runId: string): string {
  return `${WORKSPACE_PREFIX}${shortRunId(runId)}-`;
}

function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/**
 * Removes a workspace holding only a few plain files besides its work directory, with one syscall
 * per entry (two readdirs, no recursion); false, having touched nothing, when it holds more.
 */
function removeIfSmall(root: string, work: string): boolean {
  const files: string[] = [];
  for (const dir of [root, work]) {
    for (const entry of entries(dir)) {
      const file = path.join(dir, entry.name);
      if (file === work) continue;
      if (!entry.isFile() && !entry.isSymbolicLink()) return false;
      if (files.push(file) > SMALL_TREE_ENTRIES) return false;
    }
  }
  try {
    for (const file of files) unlinkSync(file);
    rmdirSync(work);
    rmdirSync(root);
    return true;
  } catch {
    // Something appeared meanwhile: the general path removes whatever is there.
    return false;
  }
}

/**
 * Creates the directories synchronously (a few microseconds each, cheaper than a trip through
 * the thread pool). Removal is synchronous for the common tiny workspace and asynchronous for a
 * tree (a clone, an npm install) that would stall the event loop.
 */
export function createWorkspace(workRoot: string, runId: string, opts: { git: boolean } = { git: false }): Workspace {
  const root = mkdtempSync(path.join(workRoot, workspacePrefix(runId)));
  const dir = path.join(root, "work");
  const gitHome = path.join(root, "git-home");
  for (const d of opts.git ? [dir, gitHome] : [dir]) mkdirSync(d, { mode: 0o700 });
  let removed: Promise<void> | undefined;
  const remove = () =>
    (removed ??= (async () => {
      if (!opts.git && removeIfSmall(root, dir)) return;
      await rm(root, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
    })());
  return { root, dir, tmp: root, gitHome, remove, [Symbol.asyncDispose]: remove };
}

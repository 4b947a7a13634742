// The git operations a run needs — inspect the remote, clone, branch, commit, push — each one simple-git call.
import { lstat, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { SimpleGit } from "simple-git";
import { gitMessage } from "./git-client.ts";

export interface RemoteInfo {
  /** The remote's default branch (what HEAD points at); null for an empty repository. */
  defaultBranch: string | null;
  /** Branch name → commit, for the branches asked about (and the default branch). */
  heads: Map<string, string>;
}

export class GitOperationError extends Error {
  override readonly name = "GitOperationError";
}

async function run(git: SimpleGit, args: string[]): Promise<string> {
  try {
    return await git.raw(args);
  } catch (err) {
    throw new GitOperationError(gitMessage(err), { cause: err });
  }
}

/** One round trip: the default branch and whether the named branches exist. */
export async function lsRemote(git: SimpleGit, url: string, branches: string[]): Promise<RemoteInfo> {
  const out = await run(git, ["ls-remote", "--symref", url, "HEAD", ...branches.map((b) => `refs/heads/${b}`)]);
  let defaultBranch: string | null = null;
  const heads = new Map<string, string>();
  for (const line of out.split("\n")) {
    const [left, right] = line.split("\t");
    if (!left || !right) continue;
    if (left.startsWith("ref: refs/heads/") && right === "HEAD") defaultBranch = left.slice("ref: refs/heads/".length);
    else if (right.startsWith("refs/heads/")) heads.set(right.slice("refs/heads/".length), left);
  }
  return { defaultBranch, heads };
}

/** Clones `branch` (or the empty repository) into `dir`, shallow when depth > 0. */
export async function clone(git: SimpleGit, url: string, dir: string, branch: string | null, depth: number): Promise<void> {
  const args = ["clone", "--quiet", "--no-tags"];
  if (branch) args.push("--single-branch", "--branch", branch);
  if (depth > 0) args.push("--depth", String(depth));
  await run(git, [...args, "--", url, dir]);
}

/** A bare repository to fetch into; no remote configured (it is fetched by URL). */
export async function initMirror(git: SimpleGit, mirror: string): Promise<void> {
  await run(git, ["init", "--quiet", "--bare", "--", mirror]);
}

/** Where a mirror keeps the commit the remote's HEAD pointed at when last fetched. */
const REMOTE_HEAD = "refs/ocs/remote-head";

/**
 * Brings every branch of the mirror up to date with the remote in one fetch, deleting branches the remote
 * deleted, and notes the commit of the remote's HEAD. Objects are never pruned (gc.auto=0): workspaces
 * made with --shared borrow them. An empty remote has no HEAD to fetch: that fails, and says so.
 */
export async function fetchAllIntoMirror(mirrorGit: SimpleGit, url: string, withHead: boolean): Promise<void> {
  await run(mirrorGit, ["fetch", "--quiet", "--no-tags", "--prune", "--no-write-fetch-head", "--", url, "+refs/heads/*:refs/heads/*", ...(withHead ? [`+HEAD:${REMOTE_HEAD}`] : [])]);
}

/** git's words when the remote has no HEAD to fetch (an empty repository, or HEAD naming no branch). */
export const NO_REMOTE_HEAD = /couldn't find remote ref HEAD/;

/** The mirror's branches and the remote HEAD's commit as the last fetch left them. */
export async function mirrorRefs(mirrorGit: SimpleGit): Promise<{ heads: Map<string, string>; remoteHead: string | null }> {
  const out = await run(mirrorGit, ["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/", REMOTE_HEAD]);
  const heads = new Map<string, string>();
  let remoteHead: string | null = null;
  for (const line of out.split("\n")) {
    const [commit, ref] = line.split(" ");
    if (!commit || !ref) continue;
    if (ref === REMOTE_HEAD) remoteHead = commit;
    else heads.set(ref.slice("refs/heads/".length), commit);
  }
  return { heads, remoteHead };
}

/** Drops the noted remote HEAD (the remote has none now). */
export async function forgetRemoteHead(mirrorGit: SimpleGit): Promise<void> {
  await run(mirrorGit, ["update-ref", "-d", REMOTE_HEAD]);
}

/**
 * A workspace from the mirror: a local clone that copies the objects (no hardlinks, no
 * alternates), so nothing the agent does in its clone can reach the mirror other runs use.
 */
export async function cloneFromMirror(git: SimpleGit, mirror: string, dir: string, branch: string): Promise<void> {
  // The hardened config allows only http(s); this one command reads our own mirror by path.
  await run(git, ["-c", "protocol.file.allow=always", "clone", "--quiet", "--no-hardlinks", "--no-tags", "--single-branch", "--branch", branch, "--", mirror, dir]);
}

/**
 * A workspace that borrows the mirror's objects (alternates) and copies none: only for an agent whose
 * sandbox shows it that mirror's objects read-only — its own new objects go to the workspace.
 */
export async function cloneSharedFromMirror(git: SimpleGit, mirror: string, dir: string, branch: string): Promise<void> {
  await run(git, ["-c", "protocol.file.allow=always", "clone", "--quiet", "--shared", "--no-tags", "--single-branch", "--branch", branch, "--", mirror, dir]);
}

/** Points origin at the real remote (a clone from the mirror points at the mirror). */
export async function setOrigin(git: SimpleGit, url: string): Promise<void> {
  await run(git, ["remote", "set-url", "origin", url]);
}

/**
 * Starts `branch` at HEAD and switches to it. Refs only: `checkout -b` would re-read every file of a
 * fresh clone (its index entries are racily clean), 0.1 s on tmpfs and seconds on slow disks.
 */
export async function createBranch(git: SimpleGit, branch: string): Promise<void> {
  const head = await headCommit(git);
  // The empty old value makes this fail if the branch already exists.
  if (head) await run(git, ["update-ref", "--no-deref", `refs/heads/${branch}`, head, ""]);
  await run(git, ["symbolic-ref", "HEAD", `refs/heads/${branch}`]);
}

/** HEAD's commit, or null in a repository without commits. */
export async function headCommit(git: SimpleGit): Promise<string | null> {
  try {
    return (await git.raw(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])).trim() || null;
  } catch {
    return null;
  }
}

/** Stages everything (respecting .gitignore) and commits it; returns false when there was nothing to commit. */
export async function commitAll(git: SimpleGit, message: string): Promise<boolean> {
  await run(git, ["add", "--all"]);
  const staged = await run(git, ["diff", "--cached", "--name-only", "-z"]);
  if (staged === "") return false;
  await run(git, ["commit", "--quiet", "--no-verify", "-m", message]);
  return true;
}

function splitNul(text: string): string[] {
  return text.split("\0").filter(Boolean);
}

/** Paths that differ between `base` (null: an empty tree) and `head`. */
export async function changedFiles(git: SimpleGit, base: string | null, head: string): Promise<string[]> {
  if (!base) return splitNul(await run(git, ["ls-tree", "-r", "-z", "--name-only", head]));
  return splitNul(await run(git, ["diff", "--name-only", "-z", base, head]));
}

/**
 * The change base..head as `git diff --binary` prints it, cut at `maxBytes`. git writes it to `file` (removed
 * after), and only the first `maxBytes` are read back: a change of gigabytes costs disk for a moment, never memory.
 */
export async function diff(git: SimpleGit, base: string | null, head: string, file: string, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  try {
    await run(git, base ? ["diff", "--binary", `--output=${file}`, base, head] : ["show", "--binary", "--format=", `--output=${file}`, head]);
    const written = Bun.file(file);
    const truncated = written.size > maxBytes;
    return { text: truncated ? await written.slice(0, maxBytes).text() : await written.text(), truncated };
  } finally {
    await rm(file, { force: true });
  }
}

/** The commits base..head as an mbox that `git am` applies. */
export async function formatPatch(git: SimpleGit, base: string | null, head: string): Promise<string> {
  return run(git, ["format-patch", "--binary", "--stdout", base ? `${base}..${head}` : "--root", ...(base ? [] : [head])]);
}

export type PushOutcome = { status: "pushed" } | { status: "rejected"; reason: string } | { status: "failed"; reason: string };

const REJECTED = /\[(?:remote )?rejected\]\s*(?:\(([^)]*)\))?/;

/** Pushes `commit` to refs/heads/`branch` on origin; a per-ref rejection is told apart from a failure to push at all. */
export async function push(git: SimpleGit, commit: string, branch: string): Promise<PushOutcome> {
  try {
    await git.raw(["push", "--porcelain", "--no-verify", "origin", `${commit}:refs/heads/${branch}`]);
    return { status: "pushed" };
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const rejected = REJECTED.exec(text);
    if (rejected) return { status: "rejected", reason: rejected[1] ?? "rejected" };
    // --porcelain ends its stdout with "Done" even when the transfer failed: not part of the reason.
    return { status: "failed", reason: gitMessage(text.replace(/^Done$/m, "")) };
  }
}

/**
 * The agent may rewrite .git/config (hooks, fsmonitor, url rewrites, proxies), swap .git or its objects
 * for a link to somewhere else, or point objects/info/alternates at another repository (another mirror:
 * the server's git would read and push its objects) before the server commits and pushes with its token.
 * This restores the config written by our clone and the alternates it made (`alternates`: the one objects
 * directory the workspace borrows, or null for none), and refuses a .git or objects that is not a plain directory.
 */
export async function restoreTrustedConfig(workDir: string, trustedConfig: string, alternates: string | null = null): Promise<void> {
  const gitDir = path.join(workDir, ".git");
  const st = await lstat(gitDir).catch(() => null);
  if (!st || !st.isDirectory()) throw new GitOperationError("the agent removed or replaced the .git directory");
  const objects = path.join(gitDir, "objects");
  const ost = await lstat(objects).catch(() => null);
  if (!ost || !ost.isDirectory()) throw new GitOperationError("the agent removed or replaced the .git/objects directory");
  const config = path.join(gitDir, "config");
  await rm(config, { force: true });
  await writeFile(config, trustedConfig, { mode: 0o644 });
  // A commondir file would make git read refs and objects of another repository.
  await rm(path.join(gitDir, "commondir"), { force: true });
  const info = path.join(objects, "info");
  const ist = await lstat(info).catch(() => null);
  if (ist && !ist.isDirectory()) await rm(info, { force: true });
  await mkdir(info, { recursive: true });
  await rm(path.join(info, "http-alternates"), { force: true });
  await rm(path.join(info, "alternates"), { recursive: true, force: true });
  if (alternates) await writeFile(path.join(info, "alternates"), `${alternates}\n`, { mode: 0o644 });
}

export async function readConfig(workDir: string): Promise<string> {
  return readFile(path.join(workDir, ".git", "config"), "utf8");
}

/** Writes `branch`'s commits that `prerequisite` lacks (all of them when null) to a bundle file: work kept on the server, not pushed. */
export async function createBundle(git: SimpleGit, file: string, branch: string, prerequisite: string | null): Promise<void> {
  await run(git, ["bundle", "create", "--quiet", file, `refs/heads/${branch}`, ...(prerequisite ? [`^${prerequisite}`] : [])]);
}

export async function hasCommit(git: SimpleGit, commit: string): Promise<boolean> {
  try {
    await git.raw(["cat-file", "-e", `${commit}^{commit}`]);
    return true;
  } catch {
    return false;
  }
}

/** Fetches one commit by id from origin (a shallow clone that lacks a bundle's prerequisite). */
export async function fetchCommit(git: SimpleGit, commit: string): Promise<void> {
  await run(git, ["fetch", "--quiet", "--no-tags", "--depth=1", "origin", commit]);
}

/** The rest of a shallow clone's history (a server that refuses fetching a commit by id). */
export async function unshallow(git: SimpleGit): Promise<void> {
  await run(git, ["fetch", "--quiet", "--no-tags", "--unshallow", "origin"]);
}

/** Puts the current branch at the bundle's `branch` (its prerequisite must be present). */
export async function checkoutBundle(git: SimpleGit, file: string, branch: string): Promise<void> {
  // A bundle is read through the file transport, which the hardened config allows nowhere else.
  await run(git, ["-c", "protocol.file.allow=always", "fetch", "--quiet", "--no-tags", file, `refs/heads/${branch}`]);
  await run(git, ["reset", "--quiet", "--hard", "FETCH_HEAD"]);
}

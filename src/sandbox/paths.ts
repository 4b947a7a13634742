// Path facts both sandboxes share: real paths, containment, the system directories an agent needs, spec checks.
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { SandboxSpecError, type SandboxSpec } from "./types.ts";

/**
 * Programs, libraries and /etc (DNS, certificates, users, git's system config). Nothing else of the
 * host: an allow-list keeps paths nobody thought of (/root, /srv, /var/lib, /work…) out by default.
 * Missing entries are skipped; the Nix entries only exist on Nix systems.
 */
export const DEFAULT_SYSTEM_PATHS: readonly string[] = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/nix/store", "/run/current-system"];

/** Character devices an agent's tools write to or read from. */
export const DEVICES: readonly string[] = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

export type PathKind = "dir" | "file" | "symlink";

export function kindOf(p: string): PathKind | null {
  try {
    const st = lstatSync(p);
    return st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "dir" : "file";
  } catch {
    return null;
  }
}

export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** True when `p` is `dir` or lies below it (both absolute and normalized). */
export function isWithin(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === "/" ? "/" : `${dir}/`);
}

export function realOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

/** The real path of `p`, or of its nearest existing ancestor with the rest appended (for paths not made yet). */
export function realOrResolved(p: string): string {
  const real = realOrNull(p);
  if (real !== null) return real;
  const parent = path.dirname(p);
  return parent === p ? p : path.join(realOrResolved(parent), path.basename(p));
}

/** A system entry: a directory or file to expose, or a symlink to recreate (/bin → usr/bin). */
export type SystemEntry = { path: string; kind: "dir" | "file" } | { path: string; kind: "symlink"; target: string; real: string | null };

export function systemEntries(paths: readonly string[]): SystemEntry[] {
  const out: SystemEntry[] = [];
  for (const p of paths) {
    const kind = kindOf(p);
    if (kind === "symlink") out.push({ path: p, kind, target: readlinkSync(p), real: realOrNull(p) });
    else if (kind !== null) out.push({ path: p, kind });
  }
  return out;
}

/** Kernel filesystems: each sandbox mounts its own (or none), so symlinks into them need no binding. */
const VIRTUAL_ROOTS = ["/proc", "/sys", "/dev"];

/**
 * Real targets of /etc's top-level symlinks that point out of the exposed trees — e.g. resolv.conf
 * into /run/systemd/resolve: without them DNS breaks.
 */
export function strayEtcTargets(exposed: readonly string[]): string[] {
  const out: string[] = [];
  if (!exposed.includes("/etc")) return out;
  let names: string[];
  try {
    names = readdirSync("/etc");
  } catch {
    return out;
  }
  for (const name of names) {
    const p = `/etc/${name}`;
    if (kindOf(p) !== "symlink") continue;
    const real = realOrNull(p);
    if (real === null || VIRTUAL_ROOTS.some((v) => isWithin(real, v))) continue;
    if (!exposed.some((e) => isWithin(real, e)) && !out.includes(real)) out.push(real);
  }
  return out;
}

export interface CheckedSpec {
  /** The root's real path. */
  root: string;
  /** The root as the caller spelled it (normalized): the agent's env (HOME, TMPDIR) names paths this way. */
  rootAsGiven: string;
  cwd: string;
  readOnly: string[];
  /** Real paths of the hidden entries that exist (what does not exist cannot be seen). */
  hidden: string[];
}

function absolute(p: string, what: string): string {
  if (!path.isAbsolute(p)) throw new SandboxSpecError(`${what} must be an absolute path: ${p}`);
  return path.normalize(p);
}

/** Validates a spec and resolves its paths; throws SandboxSpecError rather than weaken it. */
export function checkSpec(spec: SandboxSpec): CheckedSpec {
  const rootAsGiven = absolute(spec.root, "root");
  const root = realOrNull(rootAsGiven);
  if (root === null || !isDir(root)) throw new SandboxSpecError(`root is not a directory: ${spec.root}`);
  const cwd = absolute(spec.cwd ?? spec.root, "cwd");
  const readOnly = (spec.readOnly ?? []).map((p) => {
    if (realOrNull(absolute(p, "readOnly entry")) === null) throw new SandboxSpecError(`readOnly path does not exist: ${p}`);
    return path.normalize(p);
  });
  const hidden: string[] = [];
  for (const h of spec.hidden ?? []) {
    const real = realOrNull(absolute(h, "hidden entry"));
    if (real === null) continue;
    if (real === root) throw new SandboxSpecError(`the run root itself is hidden: ${h}`);
    for (const r of readOnly) {
      if (realOrNull(r) === real) throw new SandboxSpecError(`a path is both hidden and read-only: ${h}`);
    }
    if (!hidden.includes(real)) hidden.push(real);
  }
  return { root, rootAsGiven, cwd, readOnly, hidden };
}

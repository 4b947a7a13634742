// The Landlock ruleset of one run: read+exec on the system, read/write on its root, nothing else — masked to the kernel's ABI.
//
// Landlock denies whatever a handled right is not granted for, so hidden paths need no rule of their
// own — unless they lie inside a granted tree: a grant covers everything beneath it and cannot be
// subtracted from, so such a tree is granted child by child, leaving the hidden entry (and the
// listing of the directories above it) out.
import { readdirSync } from "node:fs";
import path from "node:path";
import { DEVICES, isWithin, kindOf, realOrNull, strayEtcTargets, systemEntries, type CheckedSpec } from "./paths.ts";
import { SandboxSpecError, type LandlockSupport, type SandboxSpec } from "./types.ts";

export const FS = {
  EXECUTE: 1 << 0,
  WRITE_FILE: 1 << 1,
  READ_FILE: 1 << 2,
  READ_DIR: 1 << 3,
  REMOVE_DIR: 1 << 4,
  REMOVE_FILE: 1 << 5,
  MAKE_CHAR: 1 << 6,
  MAKE_DIR: 1 << 7,
  MAKE_REG: 1 << 8,
  MAKE_SOCK: 1 << 9,
  MAKE_FIFO: 1 << 10,
  MAKE_BLOCK: 1 << 11,
  MAKE_SYM: 1 << 12,
  /** ABI 2. Without it (ABI 1) every rename or link across directories fails with EXDEV. */
  REFER: 1 << 13,
  /** ABI 3. */
  TRUNCATE: 1 << 14,
  /** ABI 5. */
  IOCTL_DEV: 1 << 15,
} as const;

export const NET = { BIND_TCP: 1 << 0, CONNECT_TCP: 1 << 1 } as const;
export const SCOPE = { ABSTRACT_UNIX_SOCKET: 1 << 0, SIGNAL: 1 << 1 } as const;

/** Every filesystem right the kernel of this ABI knows: all of them are handled, so all are denied by default. */
export function handledFs(abi: number): number {
  let rights = (1 << 13) - 1;
  if (abi >= 2) rights |= FS.REFER;
  if (abi >= 3) rights |= FS.TRUNCATE;
  if (abi >= 5) rights |= FS.IOCTL_DEV;
  return rights;
}

/** The rights that mean anything on a file (the kernel refuses the others there). */
const FILE_ONLY = FS.EXECUTE | FS.WRITE_FILE | FS.READ_FILE | FS.TRUNCATE | FS.IOCTL_DEV;
const READ = FS.EXECUTE | FS.READ_FILE | FS.READ_DIR;
const DEVICE = FS.READ_FILE | FS.WRITE_FILE | FS.TRUNCATE | FS.IOCTL_DEV;
/** /proc is needed (/proc/self); other processes' environ stays unreadable: Landlock forbids ptrace-style access out of the domain. */
const PROC = FS.READ_FILE | FS.READ_DIR;

export interface LandlockRule {
  path: string;
  access: number;
}

/** What the helper applies before it becomes the agent (travels as JSON on its command line). */
export interface LandlockPolicy {
  v: 1;
  abi: number;
  handledFs: number;
  handledNet: number;
  scoped: number;
  rules: LandlockRule[];
  /** TCP ports the agent may connect to when TCP is handled (ABI ≥ 4). */
  connectPorts: number[];
  /** The agent's working directory (the helper itself starts in /, see landlock-exec.ts). */
  cwd: string;
}

interface Grant {
  path: string;
  access: number;
}

/** The run-independent grants (system, devices, /proc), found once per server. */
export function landlockBase(systemPaths: readonly string[]): Grant[] {
  const grants: Grant[] = [];
  const reals: string[] = [];
  for (const e of systemEntries(systemPaths)) {
    const real = e.kind === "symlink" ? e.real : realOrNull(e.path);
    if (real === null || reals.some((r) => isWithin(real, r))) continue;
    reals.push(real);
    grants.push({ path: real, access: READ });
  }
  for (const target of strayEtcTargets(reals)) grants.push({ path: target, access: READ });
  for (const dev of DEVICES) if (kindOf(dev) !== null) grants.push({ path: dev, access: DEVICE });
  grants.push({ path: "/proc", access: PROC });
  return grants;
}

function addGrant(rules: LandlockRule[], p: string, access: number, hidden: readonly string[], mask: number): void {
  const kind = kindOf(p);
  // A symlink's target is checked on its own; a rule through one could reach anywhere.
  if (kind === null || kind === "symlink") return;
  if (kind === "file") {
    rules.push({ path: p, access: access & FILE_ONLY & mask });
    return;
  }
  if (!hidden.some((h) => h !== p && isWithin(h, p))) {
    rules.push({ path: p, access: access & mask });
    return;
  }
  for (const name of readdirSync(p)) {
    const child = path.join(p, name);
    if (!hidden.includes(child)) addGrant(rules, child, access, hidden, mask);
  }
}

export function landlockPolicy(spec: SandboxSpec, checked: CheckedSpec, support: LandlockSupport, base: readonly Grant[]): LandlockPolicy {
  const mask = handledFs(support.abi);
  if (spec.network === "none" && support.abi < 4) {
    throw new SandboxSpecError(`network "none" needs Landlock ABI 4 or later; this kernel has ABI ${support.abi}`);
  }
  const rules: LandlockRule[] = [];
  for (const g of base) addGrant(rules, g.path, g.access, checked.hidden, mask);
  for (const p of checked.readOnly) addGrant(rules, realOrNull(p) as string, READ, checked.hidden, mask);
  addGrant(rules, checked.root, mask, checked.hidden, mask);
  for (const b of spec.binds ?? []) {
    const source = realOrNull(b.source);
    if (source === null) throw new SandboxSpecError(`bind source does not exist: ${b.source}`);
    if (b.dest !== undefined && path.normalize(b.dest) !== path.normalize(b.source)) {
      throw new SandboxSpecError(`Landlock cannot place ${b.source} at another path (${b.dest})`);
    }
    addGrant(rules, source, b.writable ? mask : READ, checked.hidden, mask);
  }
  return {
    v: 1,
    abi: support.abi,
    handledFs: mask,
    // Only TCP: UDP and unix sockets are outside Landlock's network rights.
    handledNet: spec.network === "none" ? NET.BIND_TCP | NET.CONNECT_TCP : 0,
    scoped: support.scoping ? SCOPE.ABSTRACT_UNIX_SOCKET | SCOPE.SIGNAL : 0,
    rules,
    connectPorts: spec.network === "none" ? [...(spec.connectPorts ?? [])] : [],
    cwd: checked.cwd,
  };
}

// Builds the bubblewrap command line for one run: an empty root holding the read-only system and only this run's paths.
//
// Why an allow-list and not `--ro-bind / /` plus masks: a mask has to name every secret, and the
// defaults put secrets in many places (WORK_DIR may be /tmp, HOME may be /root holding the opencode
// binary, DATA_DIR may sit under HOME). Binding only what the agent needs makes everything else
// absent (ENOENT), whatever the host layout; masks remain only for hidden paths inside a bound tree.
import path from "node:path";
import { isDir, isWithin, realOrNull, realOrResolved, strayEtcTargets, systemEntries, type CheckedSpec } from "./paths.ts";
import { SandboxSpecError, type SandboxSpec } from "./types.ts";

interface Mount {
  dest: string;
  args: string[];
}

/** The part of every sandbox that does not depend on the run, computed once per server. */
export interface BwrapLayout {
  mounts: readonly Mount[];
  /** Real host paths bound into every sandbox. */
  exposed: readonly string[];
}

const roBind = (source: string, dest = source): Mount => ({ dest, args: ["--ro-bind", source, dest] });

export function bwrapLayout(systemPaths: readonly string[]): BwrapLayout {
  const mounts: Mount[] = [];
  const exposed: string[] = [];
  const entries = systemEntries(systemPaths);
  for (const e of entries) {
    if (e.kind === "symlink") continue;
    mounts.push(roBind(e.path));
    exposed.push(realOrNull(e.path) ?? e.path);
  }
  // Symlinks are recreated, not bound, so /bin → usr/bin keeps working exactly as on the host.
  for (const e of entries) {
    if (e.kind !== "symlink") continue;
    mounts.push({ dest: e.path, args: ["--symlink", e.target, e.path] });
    if (e.real !== null && !exposed.some((x) => isWithin(e.real as string, x))) {
      mounts.push(roBind(e.real));
      exposed.push(e.real);
    }
  }
  for (const target of strayEtcTargets(exposed)) {
    mounts.push(roBind(target));
    exposed.push(target);
  }
  return { mounts, exposed };
}

/**
 * Everything is bound at its real path; a path spelled through a host symlink that the sandbox does
 * not show (e.g. node_modules/.bin/opencode, a WORK_DIR on a symlinked volume) gets its own link.
 */
function spellingLink(spelled: string, real: string, host: readonly string[]): Mount[] {
  if (spelled === real || host.some((e) => isWithin(realOrResolved(path.dirname(spelled)), e))) return [];
  return [{ dest: spelled, args: ["--symlink", real, spelled] }];
}

const depth = (p: string) => (p === "/" ? 0 : p.split("/").length - 1);

export interface BwrapArgvOptions {
  bwrap: string;
  layout: BwrapLayout;
}

/** The full argv: bwrap, its options, `--`, then the agent's argv. */
export function bwrapArgv(argv: readonly string[], spec: SandboxSpec, checked: CheckedSpec, opts: BwrapArgvOptions): string[] {
  const mounts: Mount[] = [...opts.layout.mounts];
  const host: string[] = [...opts.layout.exposed];
  const size = spec.tmpSizeBytes === undefined ? [] : ["--size", String(spec.tmpSizeBytes)];
  mounts.push(
    { dest: "/dev", args: ["--dev", "/dev"] },
    { dest: "/proc", args: ["--proc", "/proc"] },
    // Sticky and world-writable like the host's, but empty and gone with the sandbox.
    { dest: "/tmp", args: [...size, "--perms", "1777", "--tmpfs", "/tmp"] },
    { dest: "/var/tmp", args: [...size, "--perms", "1777", "--tmpfs", "/var/tmp"] },
  );

  for (const p of checked.readOnly) {
    const real = realOrNull(p) as string;
    mounts.push(roBind(real));
    host.push(real);
    mounts.push(...spellingLink(p, real, host));
  }

  mounts.push({ dest: checked.root, args: ["--bind", checked.root, checked.root] });
  host.push(checked.root);
  mounts.push(...spellingLink(checked.rootAsGiven, checked.root, host));
  for (const b of spec.binds ?? []) {
    const source = realOrNull(b.source);
    if (source === null) throw new SandboxSpecError(`bind source does not exist: ${b.source}`);
    const dest = b.dest === undefined ? source : path.normalize(b.dest);
    if (!path.isAbsolute(dest)) throw new SandboxSpecError(`bind destination must be absolute: ${dest}`);
    mounts.push({ dest, args: [b.writable ? "--bind" : "--ro-bind", source, dest] });
    if (dest === source) host.push(source);
  }

  // Hidden paths outside every bound tree are absent already; only those inside one need covering.
  const finals: string[] = [];
  for (const h of checked.hidden) {
    if (!host.some((e) => isWithin(h, e))) continue;
    if (host.includes(h)) throw new SandboxSpecError(`a path is both hidden and exposed: ${h}`);
    if (isDir(h)) {
      // Empty, unlistable, and (at the end, once deeper mount points exist) read-only.
      mounts.push({ dest: h, args: ["--perms", "0111", "--tmpfs", h] });
      finals.push("--remount-ro", h);
    } else {
      // bwrap mounts without device access, so even opening this fails.
      mounts.push({ dest: h, args: ["--ro-bind", "/dev/null", h] });
    }
  }

  // Parents before children: a later mount inside an earlier one stays visible, an earlier one inside a later is covered.
  const ordered = mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.dest) - depth(b.m.dest) || a.i - b.i);
  return [
    opts.bwrap,
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    ...(spec.network === "none" ? ["--unshare-net"] : []),
    "--die-with-parent",
    "--new-session",
    // Only root holds capabilities to drop; for anyone else this is a no-op, so it is always passed.
    "--cap-drop",
    "ALL",
    ...ordered.flatMap(({ m }) => m.args),
    ...finals,
    // The root is a tmpfs bwrap made: without this the agent could write next to /usr.
    "--remount-ro",
    "/",
    "--chdir",
    checked.cwd,
    "--",
    ...argv,
  ];
}

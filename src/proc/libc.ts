// The libc calls Bun does not expose: prctl (subreaper, dumpable) and waitpid on one pid.
import { dlopen, FFIType } from "bun:ffi";

const PR_SET_DUMPABLE = 4;
const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

interface Libc {
  prctl(option: number, a: bigint, b: bigint, c: bigint, d: bigint): number;
  waitpid(pid: number, status: null, options: number): number;
}

let libc: Libc | null | undefined;

function load(): Libc | null {
  if (libc !== undefined) return libc;
  if (process.platform !== "linux") return (libc = null);
  try {
    const lib = dlopen("libc.so.6", {
      prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
      waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    });
    libc = lib.symbols as unknown as Libc;
  } catch {
    libc = null;
  }
  return libc;
}

/** Makes orphaned descendants re-parent to this process instead of PID 1. False when unavailable. */
export function becomeSubreaper(): boolean {
  const c = load();
  return c !== null && c.prctl(PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n) === 0;
}

/**
 * Makes this process non-dumpable: its /proc/<pid>/environ, mem and fds become root-only and it
 * cannot be ptraced by its own user. The agent runs as this user, so otherwise it could read the
 * server's API_KEY and git tokens from /proc/$PPID/environ. Children are unaffected (exec resets it).
 */
export function refuseSameUserInspection(): boolean {
  const c = load();
  return c !== null && c.prctl(PR_SET_DUMPABLE, 0n, 0n, 0n, 0n) === 0;
}

/** Reaps one exited child without blocking; true when it was reaped. */
export function reapPid(pid: number): boolean {
  const c = load();
  return c !== null && c.waitpid(pid, null, WNOHANG) === pid;
}

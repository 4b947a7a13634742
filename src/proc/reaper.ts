// Keeps agent orphans from outliving their run: this process adopts them (subreaper) and reaps the ones it may.
//
// Bun waits only for the children it spawned. Orphans re-parented to us (or, as PID 1 in a
// container, every orphan) would stay zombies forever, so we reap them ourselves — but never a
// child some other part of the runtime is waiting for: those are either tracked here (our own
// spawns) or live in our own session (node:child_process spawns such as git), and are skipped.
import { becomeSubreaper, reapPid } from "./libc.ts";
import { childrenOf, readStat } from "./procfs.ts";

const tracked = new Set<number>();
let ownSession: number | null | undefined;
let subreaper: boolean | undefined;
let timer: ReturnType<typeof setInterval> | undefined;
let timerUsers = 0;

/** Becomes a child subreaper once per process; false where the platform does not allow it. */
export function enableSubreaper(): boolean {
  subreaper ??= becomeSubreaper();
  return subreaper;
}

export function track(pid: number): void {
  tracked.add(pid);
}

export function untrack(pid: number): void {
  tracked.delete(pid);
}

function session(): number | null {
  if (ownSession === undefined) ownSession = readStat(process.pid)?.session ?? null;
  return ownSession;
}

/** Reaps exited orphans adopted by this process; returns how many were reaped. */
export function reapOrphans(): number {
  const own = session();
  let reaped = 0;
  for (const pid of childrenOf(process.pid)) {
    if (tracked.has(pid)) continue;
    const stat = readStat(pid);
    if (!stat || stat.state !== "Z" || stat.session === own) continue;
    if (reapPid(pid)) reaped++;
  }
  return reaped;
}

/** Reaps on an interval, for orphans that exit on their own; refcounted so tests can start many servers. */
export function startReaping(intervalMs = 2000): () => void {
  timerUsers++;
  if (!timer) {
    timer = setInterval(reapOrphans, intervalMs);
    timer.unref();
  }
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    if (--timerUsers === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

// Keeps agent orphans from outliving their run: this process adopts them (subreaper) and reaps the ones it may.
//
// Bun waits only for the children it spawned. Orphans re-parented to us (or, as PID 1 in a
// container, every orphan) would stay zombies forever, so we reap them ourselves — but never a
// child some other part of the runtime is waiting for. Our own Bun.spawn children are tracked
// here and skipped. A zombie outside our session is an adopted agent process: reaped at once.
// A zombie inside our session may be a node:child_process child (git via simple-git) that Bun is
// about to reap, or an orphan of one (git dies without waiting for git-remote-http when a fetch
// fails): it is reaped only once it has stayed a zombie for ZOMBIE_GRACE_MS, far longer than Bun
// ever takes to reap its own children.
import { becomeSubreaper, reapPid } from "./libc.ts";
import { ownChildren, readStat } from "./procfs.ts";

const ZOMBIE_GRACE_MS = 3000;
const tracked = new Set<number>();
/** Zombies in our own session, and when they were first seen. */
const lingering = new Map<number, number>();
let ownSession: number | null | undefined;
let subreaper: boolean | undefined;
let timer: ReturnType<typeof setInterval> | undefined;
let timerUsers = 0;

/** Becomes a child subreaper once per process; false where the platform does not allow it. */
export function enableSubreaper(): boolean {
  subreaper ??= becomeSubreaper();
  return subreaper;
}

/** Whether enableSubreaper() succeeded in this process. */
export function isSubreaper(): boolean {
  return subreaper === true;
}

export function track(pid: number): void {
  tracked.add(pid);
}

export function untrack(pid: number): void {
  tracked.delete(pid);
}

/** Whether the runtime reaps this child itself (we spawned it). */
export function isTracked(pid: number): boolean {
  return tracked.has(pid);
}

function session(): number | null {
  if (ownSession === undefined) ownSession = readStat(process.pid)?.session ?? null;
  return ownSession;
}

/** Reaps exited orphans adopted by this process; returns how many were reaped. */
export function reapOrphans(now = Date.now()): number {
  const own = session();
  let reaped = 0;
  const zombies = new Set<number>();
  for (const pid of ownChildren()) {
    if (tracked.has(pid)) continue;
    const stat = readStat(pid);
    if (!stat || stat.state !== "Z") continue;
    zombies.add(pid);
    if (stat.session === own) {
      const since = lingering.get(pid) ?? now;
      lingering.set(pid, since);
      if (now - since < ZOMBIE_GRACE_MS) continue;
    }
    if (reapPid(pid)) {
      reaped++;
      zombies.delete(pid);
    }
  }
  for (const pid of lingering.keys()) if (!zombies.has(pid)) lingering.delete(pid);
  return reaped;
}

/** Reaps on an interval, for orphans that exit on their own; refcounted so tests can start many servers. */
export function startReaping(intervalMs = 1000): () => void {
  timerUsers++;
  if (!timer) {
    timer = setInterval(() => reapOrphans(), intervalMs);
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

// Kills everything a run started: the agent, its descendants, and escaped processes carrying the run's cookie.
//
// opencode runs each tool command in its own session, and a `nohup … &` outlives its parent, so
// neither a process group nor the parent/child tree is enough. Every agent process inherits a
// per-run cookie variable; we freeze (SIGSTOP) what we find until nothing new appears — a frozen
// process cannot fork — then SIGKILL the lot and wait until it is gone.
import { isSubreaper, isTracked, reapOrphans } from "./reaper.ts";
import { descendantsOf, environHas, isAlive, listPids, readStat } from "./procfs.ts";

export const RUN_COOKIE_VAR = "OPENCODE_SERVER_RUN_ID";
const MAX_ROUNDS = 20;

export interface TreeTarget {
  /** The agent's own pid, while it may still be running. */
  rootPid?: number;
  /** "NAME=value" present in the environment of every process the run started. */
  cookie: string;
  /**
   * Look at every process on the host, not only this one's tree: for runs of a previous server
   * process, whose leftovers were adopted by someone else.
   */
  anywhere?: boolean;
}

/**
 * Where a run's processes can be. As a subreaper this process adopts every orphan its descendants
 * leave, so its own tree holds them all — a few pids instead of every process on the host.
 * Without that guarantee, every process is a candidate.
 */
function candidates(anywhere: boolean): number[] {
  return isSubreaper() && !anywhere ? descendantsOf(process.pid) : listPids();
}

function collect(target: TreeTarget): Set<number> {
  const found = new Set<number>();
  if (target.rootPid !== undefined) {
    if (isAlive(target.rootPid)) found.add(target.rootPid);
    for (const pid of descendantsOf(target.rootPid)) found.add(pid);
  }
  for (const pid of candidates(target.anywhere ?? false)) {
    if (pid !== process.pid && environHas(pid, target.cookie)) found.add(pid);
  }
  found.delete(process.pid);
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone, or not ours to signal.
  }
}

/** Finds the run's live processes without touching them. */
export function findRunProcesses(target: TreeTarget): number[] {
  return [...collect(target)].filter(isAlive);
}

/**
 * Stops, kills and waits for every process of the run; returns the pids that were still alive
 * at the deadline (normally none).
 */
export async function killProcessTree(target: TreeTarget, deadlineMs = 5000): Promise<number[]> {
  const victims = new Set<number>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let fresh = 0;
    for (const pid of collect(target)) {
      if (victims.has(pid)) continue;
      victims.add(pid);
      signal(pid, "SIGSTOP");
      fresh++;
    }
    if (fresh === 0) break;
  }
  if (victims.size === 0) return [];
  for (const pid of victims) signal(pid, "SIGKILL");
  // Done when every victim is reaped — or is a zombie someone else reaps (Bun, for its own
  // child; init, where we are not a subreaper). A zombie whose parent is another dying victim
  // is about to be re-parented to us, so it is waited for.
  const unsettled = () =>
    [...victims].filter((pid) => {
      const st = readStat(pid);
      if (!st) return false;
      if (st.state !== "Z" && st.state !== "X") return true;
      if (st.ppid === process.pid) return !isTracked(pid);
      return victims.has(st.ppid);
    });
  const deadline = Date.now() + deadlineMs;
  for (let pending = unsettled(); pending.length > 0 && Date.now() <= deadline; pending = unsettled()) {
    if (reapOrphans() === 0) await Bun.sleep(2);
  }
  return [...victims].filter(isAlive);
}

/**
 * Kills every process of the given runs, wherever they are (a last resort at shutdown, and after
 * a crash, when they belong to no one); returns how many were found.
 */
export async function killRuns(runIds: readonly string[]): Promise<number> {
  let count = 0;
  for (const id of runIds) {
    const target = { cookie: `${RUN_COOKIE_VAR}=${id}`, anywhere: true };
    count += findRunProcesses(target).length;
    await killProcessTree(target);
  }
  return count;
}

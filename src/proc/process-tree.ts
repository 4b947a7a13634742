// Kills everything a run started: the agent, its descendants, and escaped processes carrying the run's cookie.
//
// opencode runs each tool command in its own session, and a `nohup … &` outlives its parent, so
// neither a process group nor the parent/child tree is enough. Every agent process inherits a
// per-run cookie variable; we freeze (SIGSTOP) what we find until nothing new appears — a frozen
// process cannot fork — then SIGKILL the lot and wait until it is gone.
import { reapOrphans } from "./reaper.ts";
import { descendantsOf, environHas, isAlive, listPids } from "./procfs.ts";

export const RUN_COOKIE_VAR = "OPENCODE_SERVER_RUN_ID";
const MAX_ROUNDS = 20;

export interface TreeTarget {
  /** The agent's own pid, while it may still be running. */
  rootPid?: number;
  /** "NAME=value" present in the environment of every process the run started. */
  cookie: string;
}

function collect(target: TreeTarget): Set<number> {
  const found = new Set<number>();
  if (target.rootPid !== undefined) {
    if (isAlive(target.rootPid)) found.add(target.rootPid);
    for (const pid of descendantsOf(target.rootPid)) found.add(pid);
  }
  for (const pid of listPids()) {
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
  for (const pid of victims) signal(pid, "SIGKILL");
  const deadline = Date.now() + deadlineMs;
  let alive = [...victims];
  while (alive.length > 0) {
    reapOrphans();
    alive = alive.filter(isAlive);
    if (alive.length === 0 || Date.now() > deadline) break;
    await Bun.sleep(5);
  }
  reapOrphans();
  return alive;
}

/** Kills every process of the given runs (the last resort at shutdown); returns how many were found. */
export async function killRuns(runIds: readonly string[]): Promise<number> {
  let count = 0;
  for (const id of runIds) {
    const cookie = `${RUN_COOKIE_VAR}=${id}`;
    count += findRunProcesses({ cookie }).length;
    await killProcessTree({ cookie });
  }
  return count;
}

// Looks for processes in /proc by command line or environment, to prove nothing outlived a run.
import { readdirSync, readFileSync } from "node:fs";

function read(file: string): string | null {
  try {
    return readFileSync(file, "latin1");
  } catch {
    return null;
  }
}

export interface ProcInfo {
  pid: number;
  state: string;
  ppid: number;
  /** The executable's name (kept by zombies, whose cmdline is empty). */
  comm: string;
  cmdline: string;
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    const cmdline = read(`/proc/${name}/cmdline`);
    if (!stat || cmdline === null) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    out.push({ pid: Number(name), state: fields[0] ?? "?", ppid: Number(fields[1]), comm, cmdline: cmdline.replaceAll("\0", " ").trim() });
  }
  return out;
}

/** Processes (zombies included) whose command line contains `marker`. */
export function processesMatching(marker: string): ProcInfo[] {
  return listProcesses().filter((p) => p.cmdline.includes(marker) && p.pid !== process.pid);
}

/** Processes (zombies included) running exactly `command` ("sleep 331"), whatever the program's path. */
export function processesRunning(command: string): ProcInfo[] {
  return listProcesses().filter((p) => p.cmdline.replace(/^\S*\//, "") === command);
}

/** Processes whose environment carries `NAME=value`. */
export function processesWithEnv(entry: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const env = read(`/proc/${name}/environ`);
    if (env && env.split("\0").includes(entry)) out.push(Number(name));
  }
  return out;
}

/** Zombie children of this test process (nobody reaped them), optionally only those running one of `names`. */
export function zombieChildren(names?: string[]): ProcInfo[] {
  return listProcesses().filter((p) => p.ppid === process.pid && p.state === "Z" && (!names || names.includes(p.comm)));
}

/** What an agent's tools run as: none of these may stay a zombie. */
export const AGENT_COMMANDS = ["sleep", "bash", "sh", "nohup", "opencode", "env"];

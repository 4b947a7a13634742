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
    out.push({ pid: Number(name), state: fields[0] ?? "?", ppid: Number(fields[1]), cmdline: cmdline.replaceAll("\0", " ").trim() });
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

/** Zombie children of this test process (nobody reaped them). */
export function zombieChildren(): ProcInfo[] {
  return listProcesses().filter((p) => p.ppid === process.pid && p.state === "Z");
}

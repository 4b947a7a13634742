// Reads the few /proc facts process cleanup needs: state, parentage, session, children and environment.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, "latin1");
  } catch {
    return null;
  }
}

export function readStat(pid: number): ProcStat | null {
  const text = readText(`/proc/${pid}/stat`);
  if (!text) return null;
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { pid, state: fields[0] ?? "?", ppid: Number(fields[1]), pgrp: Number(fields[2]), session: Number(fields[3]) };
}

export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

/** Direct children of a process, across all of its threads. */
export function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const tid of tasks) out.push(...pidsIn(readText(`/proc/${pid}/task/${tid}/children`)));
  return out;
}

function pidsIn(text: string | null): number[] {
  const out: number[] = [];
  if (text) for (const p of text.split(" ")) if (p.trim()) out.push(Number(p));
  return out;
}

let jsOnLeader: boolean | undefined;

/**
 * This process's children. A child's parent is the thread that spawned it, and an orphan re-parented to us
 * (a subreaper) goes to our first live thread, the leader (the kernel's find_alive_thread). Every spawn of
 * ours runs on the JS thread: when that thread is the leader, the leader's list holds them all — one read
 * instead of one per thread (~55 µs with Bun's seven threads, on every run's path).
 */
export function ownChildren(): number[] {
  if (jsOnLeader === undefined) {
    try {
      jsOnLeader = readlinkSync("/proc/thread-self") === `${process.pid}/task/${process.pid}`;
    } catch {
      jsOnLeader = false;
    }
  }
  return jsOnLeader ? pidsIn(readText(`/proc/${process.pid}/task/${process.pid}/children`)) : childrenOf(process.pid);
}

/** Every descendant of `pid` (ours: starting from ownChildren). */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  const seen = new Set(queue);
  while (queue.length > 0 && out.length < 100_000) {
    const parent = queue.shift() as number;
    for (const child of parent === process.pid ? ownChildren() : childrenOf(parent)) {
      if (seen.has(child)) continue;
      seen.add(child);
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** Whether a process's initial environment holds exactly `entry` ("NAME=value"). */
export function environHas(pid: number, entry: string): boolean {
  const text = readText(`/proc/${pid}/environ`);
  if (!text) return false;
  return text.startsWith(entry + "\0") || text.includes("\0" + entry + "\0") || text === entry;
}

export function isAlive(pid: number): boolean {
  const s = readStat(pid);
  return s !== null && s.state !== "Z" && s.state !== "X";
}

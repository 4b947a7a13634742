// What every fault scenario must leave behind: nothing running, no workspace, every run in the store with a final status.
import { settledDir } from "../../support/wait.ts";
import { expect } from "bun:test";
import { mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { reapPid } from "../../../src/proc/libc.ts";
import { RUN_COOKIE_VAR } from "../../../src/proc/process-tree.ts";
import { readJson, type JsonObject } from "../../support/http.ts";
import { AGENT_COMMANDS, listProcesses, processesRunning, processesWithEnv, zombieChildren } from "../../support/procs.ts";
import { ROOT } from "../../support/process-server.ts";
import { tempDir } from "../../support/temp.ts";
import { figure } from "./figures.ts";

export { agentServerEnv, FAKE_OPENCODE as FAULTS_AGENT, faultGate } from "../../support/fake-opencode.ts";

/** What the scripted agent and its children run as (a script's comm is its file name, cut to 15 characters). */
export const FAULT_COMMANDS = [...AGENT_COMMANDS, "fake-opencode.s", "yes", "head", "setsid"];

export const FINAL_STATUSES = ["succeeded", "failed", "timed_out", "cancelled", "interrupted"];

let scenarios = 0;

/** Counts a scenario and prints how long it took from the fault to a clean answer (each round's time, when repeated). */
export function faultFigure(name: string, ms: number | readonly number[], what = "fault → clean answer"): void {
  scenarios++;
  const times = typeof ms === "number" ? [ms] : [...ms].sort((a, b) => a - b);
  const value =
    times.length === 1
      ? `${Math.round(times[0] as number)} ms`
      : `median ${Math.round(times[Math.floor(times.length / 2)] as number)} ms, max ${Math.round(times.at(-1) as number)} ms over ${times.length} rounds`;
  figure("faults", `${name}: ${what}`, value);
}

export function scenariosRun(): number {
  return scenarios;
}

/** A `sleep` whose command line no other process has: `sleep 6NN.<test pid>`. */
export function marker(n: number): string {
  return `${600 + n}.${process.pid}`;
}

export const sleeping = (m: string) => processesRunning(`sleep ${m}`);

export interface RunRowView {
  id: string;
  status: string;
  code: string | null;
  error: string | null;
}

/** Every run the server's store lists, newest first, following the cursor. */
export async function listRuns(url: string): Promise<RunRowView[]> {
  const rows: RunRowView[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const res = await fetch(`${url}/runs?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(res.status).toBe(200);
    const body = await readJson(res);
    rows.push(...(body.runs as RunRowView[]));
    cursor = (body.next_cursor as string | null) ?? null;
    if (!cursor) break;
  }
  return rows;
}

/** Processes (zombies excluded: they have no environment) still carrying one of the runs' cookies. */
export function runProcesses(ids: readonly string[]): number[] {
  return ids.flatMap((id) => processesWithEnv(`${RUN_COOKIE_VAR}=${id}`));
}

export interface CleanCheck {
  url: string;
  workDir: string;
  /** Every run ever submitted to this server: the store must list exactly these, each finished. */
  ids: readonly string[];
  /** Marker sleeps the agents started. */
  markers?: readonly string[];
}

/** No process of the runs, no marker, no zombie agent process, no workspace; the store lists every run as finished. */
export async function expectClean(check: CleanCheck): Promise<Map<string, RunRowView>> {
  expect(runProcesses(check.ids)).toEqual([]);
  for (const m of check.markers ?? []) expect(sleeping(m)).toEqual([]);
  expect(zombieChildren(FAULT_COMMANDS)).toEqual([]);
  expect(await settledDir(check.workDir)).toEqual([]);
  const rows = await listRuns(check.url);
  expect(rows.map((r) => r.id).sort()).toEqual([...check.ids].sort());
  for (const row of rows) expect(FINAL_STATUSES).toContain(row.status);
  return new Map(rows.map((r) => [r.id, r]));
}

/** A run's view (GET /runs/:id). */
export async function runView(url: string, id: string): Promise<JsonObject> {
  const res = await fetch(`${url}/runs/${id}`);
  expect(res.status).toBe(200);
  return readJson(res);
}

/**
 * Zombies of agent commands that this test process adopted as a subreaper (an in-process server
 * made it one) after their server was SIGKILLed; reaps them, as the server would, and says how many.
 * Only processes this process never spawned itself qualify, so Bun's own children are never touched.
 */
export function reapAdoptedZombies(): number {
  let reaped = 0;
  for (const p of listProcesses()) {
    if (p.ppid === process.pid && p.state === "Z" && FAULT_COMMANDS.includes(p.comm) && reapPid(p.pid)) reaped++;
  }
  return reaped;
}

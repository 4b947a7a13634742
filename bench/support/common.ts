// Shared pieces of the benchmarks: statistics, interleaving, an in-process server on the fake agent, machine facts.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { removeTempDirs as removeTestTempDirs } from "../../test/support/temp.ts";

export const ROOT = path.resolve(import.meta.dir, "../..");
export const FAKE_AGENT = path.join(ROOT, "bench/fake-agent.sh");

export interface BenchResult {
  name: string;
  target: string;
  /** null: informative only. */
  met: boolean | null;
  summary: string;
  details: string[];
}

export interface BenchContext {
  quick: boolean;
  log(line: string): void;
}

export function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

export const median = (xs: readonly number[]) => percentile(xs, 0.5);

export const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(0)} ms`;

/** Runs `a` and `b` alternately, `rounds` times each, after `warmup` unrecorded rounds. */
/** `gapMs`: a pause after each call, so that what either side does after answering is over before the other is timed. */
export async function interleave(rounds: number, warmup: number, a: () => Promise<unknown>, b: () => Promise<unknown>, gapMs = 0): Promise<{ a: number[]; b: number[] }> {
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < warmup + rounds; i++) {
    for (const [key, fn] of [["a", a], ["b", b]] as const) {
      const t = performance.now();
      await fn();
      if (i >= warmup) out[key].push(performance.now() - t);
      if (gapMs > 0) await Bun.sleep(gapMs);
    }
  }
  return out;
}

const created: string[] = [];

/** A fresh directory, removed by removeTempDirs() when the benchmarks end. */
export function tempDir(prefix: string, base = os.tmpdir()): string {
  const dir = mkdtempSync(path.join(base, prefix));
  created.push(dir);
  return dir;
}

/** This file's and those the test helpers made for the benchmarks (git servers, apps, homes, servers' TMPDIRs). */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
  removeTestTempDirs();
}

/** What a server whose "opencode" is the fake agent runs with: a fresh HOME and WORK_DIR, no warm agents. */
export function fakeAgentEnv(env: Record<string, string> = {}): Record<string, string> {
  const home = tempDir("ocs-bench-");
  return {
    HOME: home,
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOST: "127.0.0.1",
    PORT: "0",
    WORK_DIR: home,
    OPENCODE_BIN: FAKE_AGENT,
    // A stand-in that prints events, not opencode: it has no server mode to keep warm.
    WARM_AGENTS: "0",
    OPENCODE_AUTH_TOKEN: "bench-token-0123456789",
    ...env,
  };
}

/** An in-process server whose "opencode" is the fake agent. */
export async function fakeAgentServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const server = await startServer(loadConfig(fakeAgentEnv(env)), { logSink: () => {} });
  await server.ready;
  return server;
}

export async function postRun(url: string, body: string | object, headers: Record<string, string> = {}): Promise<Response> {
  const json = typeof body !== "string";
  const res = await fetch(`${url}/run`, {
    method: "POST",
    headers: { "content-type": json ? "application/json" : "text/plain", ...headers },
    body: json ? JSON.stringify(body) : body,
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`run failed with ${res.status}`);
  return res;
}

async function firstLine(cmd: string[]): Promise<string> {
  try {
    const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "ignore" });
    return ((await new Response(p.stdout).text()).trim().split("\n")[0] ?? "").trim();
  } catch {
    return "unavailable";
  }
}

export async function machineInfo(): Promise<string[]> {
  const cpus = os.cpus();
  return [
    `- CPU: ${cpus[0]?.model ?? "unknown"} × ${cpus.length}`,
    `- Memory: ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- OS: ${await firstLine(["uname", "-sr"])}, ${(await firstLine(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]))}`,
    `- Bun ${Bun.version}, ${await firstLine(["git", "--version"])}, ${await firstLine(["wrk", "--version"])}`,
    `- Temp filesystem: ${await firstLine(["sh", "-c", `df -T ${os.tmpdir()} | tail -1 | awk '{print $2}'`])}`,
  ];
}

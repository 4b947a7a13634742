// Bench 3's warm-agent part: request → the model's first request, CPU per run, and runs per minute, for `opencode run` and warm agents.
import { readdirSync, readFileSync } from "node:fs";
import type { RunningServer } from "../src/server.ts";
import type { FakeLlm } from "../test/support/fake-llm.ts";

const TICK_S = 0.01;

function statTicks(pid: number | "self"): { own: number; children: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/** CPU seconds of this process and of its reaped children (an agent's whole life is counted when it is reaped). */
export function cpuNow(): number {
  const t = statTicks("self");
  return t ? (t.own + t.children) * TICK_S : 0;
}

/**
 * Follows the CPU of every process carrying `cookie` in its environment (a warm agent's sandbox, whose
 * processes are SIGKILLed at the run's end and so never reaped into anyone's children time), polling /proc.
 */
export function cpuFollower(cookie: string, everyMs = 25): { sample(): number; stop(): number } {
  const last = new Map<number, number>();
  const needle = `OPENCODE_SERVER_RUN_ID=${cookie}\0`;
  const sample = () => {
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
      let environ = "";
      try {
        environ = readFileSync(`/proc/${name}/environ`, "latin1");
      } catch {
        continue;
      }
      if (!environ.includes(needle)) continue;
      const t = statTicks(Number(name));
      if (t) last.set(Number(name), Math.max(last.get(Number(name)) ?? 0, t.own + t.children));
    }
    let ticks = 0;
    for (const v of last.values()) ticks += v;
    return ticks * TICK_S;
  };
  const timer = setInterval(sample, everyMs);
  return {
    sample,
    stop: () => {
      clearInterval(timer);
      return sample();
    },
  };
}

/** The warm agent about to be taken: the one warm workspace present (its name is its processes' run cookie). */
function readyAgentCookie(workDir: string): string | null {
  const warm = readdirSync(workDir).filter((e) => e.startsWith("opencode-warm-"));
  return warm.length === 1 ? (warm[0] as string) : null;
}

async function warmReady(server: RunningServer, count: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith("opencode_server_warm_agents_ready "));
    if (Number(line?.split(" ").at(-1)) >= count) return;
    if (Date.now() > deadline) throw new Error("no warm agent became ready");
    await Bun.sleep(50);
  }
}

export interface RunSample {
  /** POST → the fake model's first request, ms. */
  firstModelMs: number;
  totalMs: number;
  /** Server + agent CPU seconds of this run, the warm agent's boot included. */
  cpuS: number;
  /** Of cpuS: what the warm agent had spent booting before the request (0 for `opencode run`). */
  bootCpuS: number;
}

/** One run, timed and CPU-counted; with `warm`, waits for a ready agent first (untimed). */
export async function sampleRun(server: RunningServer, llm: FakeLlm, body: object, opts: { warm: boolean; workDir: string }): Promise<RunSample> {
  if (opts.warm) await warmReady(server, 1);
  const cookie = opts.warm ? readyAgentCookie(opts.workDir) : null;
  if (opts.warm && !cookie) throw new Error("cannot tell which warm agent the run will take");
  const follow = cookie ? cpuFollower(cookie) : null;
  const bootCpuS = follow?.sample() ?? 0;
  const cpu0 = cpuNow();
  const seen = llm.requests.length;
  const t0 = Date.now();
  const res = await fetch(`${server.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const answer = (await res.json()) as { success?: boolean };
  const totalMs = Date.now() - t0;
  if (res.status !== 200 || !answer.success) throw new Error(`run failed with ${res.status}: ${JSON.stringify(answer).slice(0, 300)}`);
  const first = llm.requests.slice(seen).find((r) => r.path.endsWith("/chat/completions"));
  // `opencode run` is reaped when it exits: its CPU is in this process's children time. A warm agent is
  // killed, so its whole life (boot included) is what the follower saw; the replacement booting meanwhile
  // is counted with the next run.
  const agentCpuS = follow?.stop() ?? 0;
  const cpuS = cpuNow() - cpu0 + agentCpuS;
  return { firstModelMs: (first?.at ?? t0) - t0, totalMs, cpuS, bootCpuS };
}

/** Runs `count` runs at once against a server with MAX_CONCURRENT_RUNS=2; runs per minute. */
export async function throughput(server: RunningServer, body: object, count: number, warmTarget: number): Promise<number> {
  if (warmTarget > 0) await warmReady(server, warmTarget);
  const t0 = performance.now();
  const answers = await Promise.all(
    Array.from({ length: count }, async () => {
      const res = await fetch(`${server.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return res.status;
    }),
  );
  if (answers.some((s) => s !== 200)) throw new Error(`throughput runs failed: ${answers.join(",")}`);
  return count / ((performance.now() - t0) / 60_000);
}

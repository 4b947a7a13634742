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

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

function descendsFromUs(pid: number): boolean {
  for (let p: number | null = pid, hops = 0; p !== null && p > 1 && hops < 64; hops++) {
    if (p === process.pid) return true;
    p = parentOf(p);
  }
  return false;
}

/** CPU seconds of this process alone (the server runs in the bench's process). */
export function ownCpu(): number {
  const t = statTicks("self");
  return t ? t.own * TICK_S : 0;
}

/**
 * Follows the CPU of the agent's processes through /proc: those carrying the run cookie `cookie` (a warm
 * agent's, named after its workspace), or with null any run cookie (the server has no pool; runs one at a
 * time). Polled, because a warm agent's sandbox is SIGKILLed (never reaped into anyone's children time) and
 * Bun reaps an exited agent only later. Each process counts its own time (one living under 25 ms is missed).
 */
export function cpuFollower(cookie: string | null, everyMs = 25): { sample(): number; stop(): number } {
  const last = new Map<number, number>();
  const ignored = new Set<number>();
  const needle = cookie === null ? "OPENCODE_SERVER_RUN_ID=" : `OPENCODE_SERVER_RUN_ID=${cookie}\0`;
  const sample = () => {
    for (const name of readdirSync("/proc")) {
      const pid = Number(name);
      if (!/^\d+$/.test(name) || pid === process.pid || ignored.has(pid)) continue;
      if (!last.has(pid)) {
        let environ = "";
        try {
          environ = readFileSync(`/proc/${name}/environ`, "latin1");
        } catch {
          continue;
        }
        // Other servers on this shared machine run agents too: only this process's descendants count.
        // With no cookie given, a warm agent (the other server's pool, booting meanwhile) is not the run's.
        const other = cookie === null && environ.includes("OPENCODE_SERVER_RUN_ID=opencode-warm-");
        if (!environ.includes(needle) || other || !descendsFromUs(pid)) {
          ignored.add(pid);
          continue;
        }
      }
      const t = statTicks(pid);
      // Own time only: a parent's children time repeats what was already seen of its children.
      if (t) last.set(pid, Math.max(last.get(pid) ?? 0, t.own));
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
  /** Server + agent CPU seconds of this run, the warm agent's boot included (the bench's own polling counts as server time). */
  cpuS: number;
  /** Of cpuS: what the warm agent had spent booting before the request (0 for `opencode run`). */
  bootCpuS: number;
}

/** One run, timed and CPU-counted; with `warm`, waits for a ready agent first (untimed). */
export async function sampleRun(server: RunningServer, llm: FakeLlm, body: object, opts: { warm: boolean; workDir: string }): Promise<RunSample> {
  if (opts.warm) await warmReady(server, 1);
  const cookie = opts.warm ? readyAgentCookie(opts.workDir) : null;
  if (opts.warm && !cookie) throw new Error("cannot tell which warm agent the run will take");
  const follow = cpuFollower(cookie);
  const bootCpuS = follow.sample();
  const cpu0 = ownCpu();
  const seen = llm.requests.length;
  const t0 = Date.now();
  const res = await fetch(`${server.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const answer = (await res.json()) as { success?: boolean };
  const totalMs = Date.now() - t0;
  if (res.status !== 200 || !answer.success) throw new Error(`run failed with ${res.status}: ${JSON.stringify(answer).slice(0, 300)}`);
  const first = llm.requests.slice(seen).find((r) => r.path.endsWith("/chat/completions"));
  // A warm agent's whole life (boot included) is what the follower saw; the replacement booting meanwhile
  // is counted with the next run.
  const agentCpuS = follow.stop();
  const cpuS = ownCpu() - cpu0 + agentCpuS;
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

// 6. The compiled binary: start to first /health answer, idle RSS, and RSS growth while an agent prints 20 / 100 / 500 MB at 1 and 10 MiB caps.
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { BUILD_FLAGS, buildBinary } from "../scripts/build.ts";
import { FAKE_AGENT, ROOT, median, ms, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

const MiB = 1024 * 1024;
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
const PRINT_BYTES = 100_000_000;
/** The issue's bound on RSS growth during a flood: one copy of the kept output plus what the store and the answer need. */
const floodTarget = (cap: number) => 2 * cap + 16 * MiB;
const BARE = `Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: () => new Response("ok") });`;

async function compileBare(entry: string, out: string): Promise<void> {
  const p = Bun.spawn([process.execPath, "build", entry, ...BUILD_FLAGS, "--outfile", out], { cwd: ROOT, stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`bun build failed: ${await new Response(p.stderr).text()}`);
}

function freePort(): number {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

interface Rss {
  total: number;
  /** Private memory: the heap and everything the process allocated. */
  anon: number;
  /** Pages of the executable (and other files) mapped in: shared with other processes, reclaimable. */
  file: number;
}

function rss(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => {
    const m = new RegExp(`${name}:\\s+(\\d+) kB`).exec(status);
    if (!m) throw new Error(`no ${name} for ${pid}`);
    return Number(m[1]) * 1024;
  };
  return { total: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile") };
}

/** Polls until `url` answers 200 (a refused connection costs microseconds); bounded by a deadline. */
async function firstOk(url: string, deadlineMs = 10_000): Promise<Response> {
  const end = performance.now() + deadlineMs;
  while (performance.now() < end) {
    try {
      const res = await fetch(url);
      if (res.ok) return res;
    } catch {
      // Not listening yet.
    }
  }
  throw new Error(`${url} did not answer within ${deadlineMs} ms`);
}

interface Started {
  proc: Bun.Subprocess;
  url: string;
  startMs: number;
}

async function start(bin: string, env: Record<string, string>): Promise<Started> {
  const port = freePort();
  const t = performance.now();
  const proc = Bun.spawn([bin], { env: { ...env, PORT: String(port) }, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  await firstOk(`${url}/health`);
  return { proc, url, startMs: performance.now() - t };
}

async function stop(s: Started): Promise<void> {
  s.proc.kill("SIGTERM");
  await s.proc.exited;
}

/** Starts a fresh server, waits until it is idle, lets an agent print `bytes`, and samples RSS every 10 ms. */
async function flood(bin: string, env: Record<string, string>, bytes: number): Promise<{ idle: Rss; peak: number; kept: number; ms: number }> {
  const s = await start(bin, env);
  try {
    await probed(s.url);
    const idle = rss(s.proc.pid);
    let peak = idle.total;
    let done = false;
    const t = performance.now();
    const run = fetch(`${s.url}/run`, { method: "POST", body: `print ${bytes}` }).then(async (res) => {
      const body = (await res.json()) as { success: boolean; output: string };
      if (!body.success) throw new Error(`the ${bytes}-byte run failed`);
      return body.output.length;
    });
    void run.finally(() => (done = true));
    while (!done) {
      peak = Math.max(peak, rss(s.proc.pid).total);
      await Bun.sleep(10);
    }
    return { idle, peak, kept: await run, ms: performance.now() - t };
  } finally {
    await stop(s);
  }
}

/** Waits until the opencode version probe has answered (health shows the version). */
async function probed(url: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (((await (await fetch(`${url}/health`)).json()) as { opencode_version: string }).opencode_version === "unknown") {
    if (performance.now() > deadline) throw new Error("the opencode probe did not finish");
  }
}

export async function memory(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.quick ? 2 : 10;
  const dir = tempDir("ocs-bench-bin-");
  const home = tempDir("ocs-bench-home-");
  try {
    const ours = path.join(dir, "opencode-server");
    const bare = path.join(dir, "bare");
    await buildBinary(ours);
    await Bun.write(path.join(dir, "bare.ts"), BARE);
    await compileBare(path.join(dir, "bare.ts"), bare);
    const env = {
      HOME: home,
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOST: "127.0.0.1",
      WORK_DIR: home,
      OPENCODE_BIN: FAKE_AGENT,
      // A stand-in that prints events, not opencode: it has no server mode to keep warm.
      WARM_AGENTS: "0",
      OPENCODE_AUTH_TOKEN: "bench-token-0123456789",
    };
    const starts = { ours: [] as number[], bare: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      for (const [key, bin] of [["ours", ours], ["bare", bare]] as const) {
        const s = await start(bin, env);
        starts[key].push(s.startMs);
        await stop(s);
      }
    }

    // Idle: started, opencode probed, 200 health checks answered, then left alone for a moment.
    const idleOf = async (bin: string, probe: boolean): Promise<Rss> => {
      const s = await start(bin, env);
      try {
        if (probe) await probed(s.url);
        for (let i = 0; i < 200; i++) await (await fetch(`${s.url}/health`)).arrayBuffer();
        await Bun.sleep(500);
        return rss(s.proc.pid);
      } finally {
        await stop(s);
      }
    };
    const idle = await idleOf(ours, true);
    const bareIdle = await idleOf(bare, false);

    // Floods: growth must follow MAX_OUTPUT_SIZE, not what the agent prints — at most 2 × the cap + 16 MiB.
    const sizes = ctx.quick ? [20_000_000] : [20_000_000, PRINT_BYTES, 500_000_000];
    const cases = [1 * MiB, 10 * MiB].flatMap((cap) => sizes.map((bytes) => [bytes, cap] as const));
    const floods: string[] = [];
    const growths: { bytes: number; cap: number; growth: number; met: boolean }[] = [];
    for (const [bytes, cap] of cases) {
      const f = await flood(ours, { ...env, MAX_OUTPUT_SIZE: String(cap) }, bytes);
      const growth = f.peak - f.idle.total;
      const target = floodTarget(cap);
      growths.push({ bytes, cap, growth, met: growth <= target });
      floods.push(`| ${bytes / 1e6} MB | ${mib(cap)} | ${mib(f.idle.total)} | ${mib(f.peak)} | +${mib(growth)} (${(growth / cap).toFixed(1)}× the cap) | ≤ ${mib(target)} | ${growth <= target ? "met" : "**missed**"} | ${mib(f.kept)} | ${ms(f.ms)} |`);
      ctx.log(`memory: ${bytes / 1e6} MB printed, cap ${mib(cap)}: +${mib(growth)} (target ≤ ${mib(target)})`);
    }
    const at = (bytes: number, cap: number) => growths.find((g) => g.bytes === bytes && g.cap === cap);
    const headline = [at(PRINT_BYTES, MiB) ?? at(20_000_000, MiB), at(PRINT_BYTES, 10 * MiB) ?? at(20_000_000, 10 * MiB)].filter((g) => g !== undefined);

    const startMs = median(starts.ours);
    const met = startMs <= 100 && idle.total <= 50 * MiB && growths.every((g) => g.met);
    ctx.log(`memory: start ${ms(startMs)} (bare ${ms(median(starts.bare))}), idle RSS ${mib(idle.total)} (${mib(idle.anon)} private; bare ${mib(bareIdle.total)})`);
    return {
      name: "6. Memory and start-up of the compiled binary",
      target: "start to first /health ≤ 100 ms; idle RSS ≤ 50 MB; RSS growth while an agent prints 20 / 100 / 500 MB ≤ 2 × MAX_OUTPUT_SIZE + 16 MiB (18 MiB at a 1 MiB cap, 36 MiB at 10 MiB)",
      met,
      summary: `start ${ms(startMs)}, idle ${mib(idle.total)} (${mib(idle.anon)} private); ${headline.map((g) => `+${mib(g.growth)} for ${g.bytes / 1e6} MB at a ${mib(g.cap)} cap`).join(", ")}; floods within target: ${growths.filter((g) => g.met).length} of ${growths.length}`,
      details: [
        "| | opencode-server | bare compiled Bun.serve |",
        "|---|---|---|",
        `| start to first 200 (median of ${rounds}) | ${ms(startMs)} | ${ms(median(starts.bare))} |`,
        `| idle RSS | ${mib(idle.total)} | ${mib(bareIdle.total)} |`,
        `| — private (RssAnon) | ${mib(idle.anon)} | ${mib(bareIdle.anon)} |`,
        `| — file-backed (RssFile: the executable's pages) | ${mib(idle.file)} | ${mib(bareIdle.file)} |`,
        "",
        "| agent prints | MAX_OUTPUT_SIZE | idle RSS | peak RSS | growth | target (2 × cap + 16 MiB) | | output kept | run time |",
        "|---|---|---|---|---|---|---|---|---|",
        ...floods,
        "",
        `Both binaries are built with the project's flags (\`scripts/build.ts\`: \`--compile --minify --bytecode\`). "Start" is from spawn to the first 200 from /health, polling the port. Idle is after the opencode version probe and 200 /health requests. Each flood runs on a fresh server; RSS is VmRSS from /proc, sampled every 10 ms.`,
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
}

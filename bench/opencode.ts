// 3. A real `opencode run` (fake LLM, one bash tool call) through the server vs the same command spawned directly; warm agents.
import { rmSync } from "node:fs";
import { loadConfig } from "../src/config.ts";
import { opencodeArgs } from "../src/opencode/runner.ts";
import { startServer, type RunningServer } from "../src/server.ts";
import { fakeScript, startFakeLlm, type FakeLlm } from "../test/support/fake-llm.ts";
import { startGitServer } from "../test/support/git-server.ts";
import { opencodeServerEnv } from "../test/support/opencode-env.ts";
import { interleave, median, ms, percentile, postRun, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";
import { sampleRun, throughput, type RunSample } from "./warm-agents.ts";

const PROMPT = `List the files\n${fakeScript({ bash: "ls -la" }, { text: "Listed: {{tool_output}}" })}`;
const TOKEN = "bench-git-token-0123456789";

async function serverWith(llm: FakeLlm, extra: Record<string, string>): Promise<{ server: RunningServer; workDir: string }> {
  const config = loadConfig({ ...opencodeServerEnv(llm, extra), LOG_LEVEL: "info" });
  const server = await startServer(config, { logSink: () => {} });
  await server.ready;
  return { server, workDir: config.workDir };
}

const s = (x: number) => `${x.toFixed(2)} s`;

function row(name: string, xs: readonly RunSample[]): string {
  const first = xs.map((x) => x.firstModelMs);
  const total = xs.map((x) => x.totalMs);
  const cpu = xs.map((x) => x.cpuS);
  const boot = xs.map((x) => x.bootCpuS);
  return `| ${name} | ${ms(median(first))} | ${ms(Math.max(...first))} | ${ms(median(total))} | ${s(median(cpu))} | ${s(median(boot))} |`;
}

export async function opencode(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.quick ? 1 : 10;
  const warmup = ctx.quick ? 0 : 1;
  const samples = ctx.quick ? 1 : 5;
  const burst = ctx.quick ? 2 : 8;
  const llm = startFakeLlm();
  const env = { ...opencodeServerEnv(llm, { MAX_CONCURRENT_RUNS: "2" }), LOG_LEVEL: "info" };
  const config = loadConfig(env);
  const server = await startServer(config, { logSink: () => {} });
  const servers: RunningServer[] = [server];
  const git = startGitServer({ token: TOKEN });
  let n = 0;
  const firstDirect: number[] = [];
  // Spawned as the server's runner spawns it (detached: its own session and process group), same arguments and environment.
  const direct = async () => {
    const dir = tempDir("ocs-bench-direct-", config.workDir);
    const seen = llm.requests.length;
    const t0 = Date.now();
    try {
      const p = Bun.spawn(opencodeArgs(config.opencode.bin, { runId: `direct-${n++}`, model: config.opencode.defaultModel, agent: null }), {
        cwd: dir,
        env: { ...config.agentEnv, TMPDIR: dir },
        stdin: new Blob([PROMPT]),
        stdout: "pipe",
        stderr: "pipe",
        detached: true,
        timeout: 120_000,
        killSignal: "SIGKILL",
      });
      const [out, , code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      if (code !== 0 || !out.includes("Listed:")) throw new Error(`direct opencode run failed with exit ${code}`);
      const first = llm.requests.slice(seen).find((r) => r.path.endsWith("/chat/completions"));
      if (first) firstDirect.push(first.at - t0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await server.ready;
    const { a, b } = await interleave(rounds, warmup, direct, () => postRun(server.url, PROMPT));
    const ratio = median(b) / median(a);
    ctx.log(`opencode: direct ${ms(median(a))}, server ${ms(median(b))}`);

    // Request → the model's first request, and CPU per run: `opencode run`, a warm agent, a warm agent with a repository.
    await git.createRepo("app", { files: { "README.md": "# app\n", "src/main.ts": "export {};\n" } });
    const repoEnv = { GIT_TOKEN: TOKEN, ALLOWED_REPO_PREFIXES: `${git.url}/`, GIT_BIN: Bun.which("git") ?? "git" };
    const warm = await serverWith(llm, { WARM_AGENTS: "1", ...repoEnv });
    servers.push(warm.server);
    const cold: RunSample[] = [];
    const hot: RunSample[] = [];
    const hotRepo: RunSample[] = [];
    const repoBody = { prompt: PROMPT, repository: git.repoUrl("app"), push: false };
    for (let i = 0; i < samples; i++) {
      cold.push(await sampleRun(server, llm, { prompt: PROMPT }, { warm: false, workDir: config.workDir }));
      hot.push(await sampleRun(warm.server, llm, { prompt: PROMPT }, { warm: true, workDir: warm.workDir }));
      hotRepo.push(await sampleRun(warm.server, llm, repoBody, { warm: true, workDir: warm.workDir }));
    }
    ctx.log(`opencode: first model request cold ${ms(median(cold.map((x) => x.firstModelMs)))}, warm ${ms(median(hot.map((x) => x.firstModelMs)))}, warm+repo ${ms(median(hotRepo.map((x) => x.firstModelMs)))}`);

    // Runs per minute with MAX_CONCURRENT_RUNS=2 and a model that takes 1 s per answer.
    const slowPrompt = `${fakeScript({ text: "ok" })}`;
    await warm.server.shutdown(0);
    const warmBurst = await serverWith(llm, { MAX_CONCURRENT_RUNS: "2", WARM_AGENTS: "2" });
    servers.push(warmBurst.server);
    llm.setDelay(1000);
    const rpmCold = await throughput(server, { prompt: slowPrompt }, burst, 0);
    const rpmWarm = await throughput(warmBurst.server, { prompt: slowPrompt }, burst, 2);
    ctx.log(`opencode: ${rpmCold.toFixed(1)} vs ${rpmWarm.toFixed(1)} runs/min`);

    return {
      name: "3. A real opencode run (fake LLM, one tool call)",
      target: "≤ 1.05×",
      met: ratio <= 1.05,
      summary: `${ratio.toFixed(3)}× (${ms(median(b))} vs ${ms(median(a))} at the median); first model request ${ms(median(cold.map((x) => x.firstModelMs)))} → ${ms(median(hot.map((x) => x.firstModelMs)))} warm`,
      details: [
        "| | p50 | p99 | min | max |",
        "|---|---|---|---|---|",
        `| direct \`opencode run\` | ${ms(median(a))} | ${ms(percentile(a, 0.99))} | ${ms(Math.min(...a))} | ${ms(Math.max(...a))} |`,
        `| via POST /run | ${ms(median(b))} | ${ms(percentile(b, 0.99))} | ${ms(Math.min(...b))} | ${ms(Math.max(...b))} |`,
        "",
        `${rounds} interleaved round(s) after ${warmup} warm-up round(s). opencode ${config.opencode.bin.includes("node_modules") ? "from the pinned opencode-ai package" : config.opencode.bin}; the fake LLM answers one bash tool call (\`ls -la\`) and then text. The direct run is spawned as the server spawns it (detached, the server's own arguments and agent environment; no sandbox). Direct spawn → the model's first request: ${ms(median(firstDirect))} (p50).`,
        "",
        "| runner | request → first model request p50 | max | request → answer p50 | CPU per run (server + agent) p50 | of which the warm boot |",
        "|---|---|---|---|---|---|",
        row("`opencode run` (WARM_AGENTS=0)", cold),
        row("warm agent", hot),
        row("warm agent, repository run (clone, then opencode boots the clone)", hotRepo),
        "",
        `${samples} sequential run(s) each, the warm agent ready before each request. CPU: the server's own (it runs in the bench's process, whose /proc polling is counted with it) plus the agent's processes, followed in /proc every 25 ms by their run cookie (each process's own time; one living under 25 ms is missed), so a warm run counts its agent's whole life, boot included; "of which the warm boot" is what the agent had spent before the request.`,
        "",
        "| runner | runs per minute (MAX_CONCURRENT_RUNS=2, model answers after 1 s, 2 cores) |",
        "|---|---|",
        `| \`opencode run\` | ${rpmCold.toFixed(1)} |`,
        `| warm agents (WARM_AGENTS=2) | ${rpmWarm.toFixed(1)} |`,
        "",
        `${burst} runs posted at once (one model turn each); the warm pool starts full and refills one boot at a time while runs go on, so later runs may find it empty and use \`opencode run\`. The machine is shared with other work: figures move by ±20 % between runs.`,
      ],
    };
  } finally {
    for (const x of servers) await x.shutdown(0);
    await llm.stop();
    await git.stop();
  }
}

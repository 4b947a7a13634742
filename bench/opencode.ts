// 3. A real `opencode run` (fake LLM, one bash tool call) through the server vs the same command spawned directly.
import { rmSync } from "node:fs";
import { loadConfig } from "../src/config.ts";
import { opencodeArgs } from "../src/opencode/runner.ts";
import { startServer } from "../src/server.ts";
import { fakeScript, startFakeLlm } from "../test/support/fake-llm.ts";
import { opencodeServerEnv } from "../test/support/opencode-env.ts";
import { interleave, median, ms, percentile, postRun, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

const PROMPT = `List the files\n${fakeScript({ bash: "ls -la" }, { text: "Listed: {{tool_output}}" })}`;

export async function opencode(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.quick ? 1 : 10;
  const warmup = ctx.quick ? 0 : 1;
  const llm = startFakeLlm();
  const env = { ...opencodeServerEnv(llm), LOG_LEVEL: "info" };
  const config = loadConfig(env);
  const server = await startServer(config, { logSink: () => {} });
  let n = 0;
  // What the server's runner does, minus the server: same arguments, same environment, a fresh directory as cwd and TMPDIR.
  const direct = async () => {
    const dir = tempDir("ocs-bench-direct-", config.workDir);
    try {
      const p = Bun.spawn(opencodeArgs(config.opencode.bin, { runId: `direct-${n++}`, model: config.opencode.defaultModel, agent: null }), {
        cwd: dir,
        env: { ...config.agentEnv, TMPDIR: dir },
        stdin: new Blob([PROMPT]),
        stdout: "pipe",
        stderr: "pipe",
        timeout: 120_000,
        killSignal: "SIGKILL",
      });
      const [out, , code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      if (code !== 0 || !out.includes("Listed:")) throw new Error(`direct opencode run failed with exit ${code}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await server.ready;
    const { a, b } = await interleave(rounds, warmup, direct, () => postRun(server.url, PROMPT));
    const ratio = median(b) / median(a);
    ctx.log(`opencode: direct ${ms(median(a))}, server ${ms(median(b))}`);
    return {
      name: "3. A real opencode run (fake LLM, one tool call)",
      target: "≤ 1.05×",
      met: ratio <= 1.05,
      summary: `${ratio.toFixed(3)}× (${ms(median(b))} vs ${ms(median(a))} at the median)`,
      details: [
        "| | p50 | p99 | min | max |",
        "|---|---|---|---|---|",
        `| direct \`opencode run\` | ${ms(median(a))} | ${ms(percentile(a, 0.99))} | ${ms(Math.min(...a))} | ${ms(Math.max(...a))} |`,
        `| via POST /run | ${ms(median(b))} | ${ms(percentile(b, 0.99))} | ${ms(Math.min(...b))} | ${ms(Math.max(...b))} |`,
        "",
        `${rounds} interleaved round(s) after ${warmup} warm-up round(s). opencode ${config.opencode.bin.includes("node_modules") ? "from the pinned opencode-ai package" : config.opencode.bin}; the fake LLM answers one bash tool call (\`ls -la\`) and then text. The direct run uses the server's own arguments and agent environment.`,
      ],
    };
  } finally {
    await server.shutdown(0);
    await llm.stop();
  }
}

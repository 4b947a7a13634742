// 1. Server-added latency: POST /run with a no-op fake agent vs spawning that agent directly from Bun.
import { existsSync, mkdirSync, mkdtempSync, rmdirSync } from "node:fs";
import { opencodeArgs } from "../src/opencode/runner.ts";
import { FAKE_AGENT, fakeAgentServer, interleave, median, ms, percentile, postRun, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

async function direct(): Promise<void> {
  const p = Bun.spawn(opencodeArgs(FAKE_AGENT, { runId: "bench", model: null, agent: null }), { stdin: new Blob(["hi"]), stdout: "pipe", stderr: "pipe" });
  await new Response(p.stdout).arrayBuffer();
  await p.exited;
}

/** What no server can avoid: an HTTP round trip, and creating and removing a workspace on this filesystem. */
async function floors(rounds: number): Promise<{ http: number; dirs: number }> {
  const bare = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (req) => Response.json({ n: (await req.text()).length }) });
  const http: number[] = [];
  for (let i = 0; i < rounds + 20; i++) {
    const t = performance.now();
    await (await fetch(`http://127.0.0.1:${bare.port}/`, { method: "POST", body: "hi" })).arrayBuffer();
    if (i >= 20) http.push(performance.now() - t);
  }
  bare.stop(true);
  const root = tempDir("ocs-bench-dirs-");
  const dirs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    const d = mkdtempSync(`${root}/w-`);
    mkdirSync(`${d}/work`);
    rmdirSync(`${d}/work`);
    rmdirSync(d);
    dirs.push(performance.now() - t);
  }
  return { http: median(http), dirs: median(dirs) };
}

export async function latency(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.quick ? 30 : 400;
  // The defaults first (the headline); then what each per-run containment layer costs, by turning it off.
  const variants: [string, Record<string, string>][] = [["defaults (bubblewrap, AGENT_NETWORK=proxy), temp filesystem", {}]];
  if (existsSync("/dev/shm")) variants.push(["defaults, WORK_DIR on tmpfs (/dev/shm)", { WORK_DIR: tempDir("ocs-bench-shm-", "/dev/shm") }]);
  variants.push(["bubblewrap, AGENT_NETWORK=open (no in-sandbox bridge)", { AGENT_NETWORK: "open" }]);
  variants.push(["SANDBOX=off, AGENT_NETWORK=open (the server alone)", { SANDBOX: "off", AGENT_NETWORK: "open" }]);
  const details = ["| configuration | direct p50 | direct p99 | via server p50 | via server p99 | ratio (p50) | added (p50) |", "|---|---|---|---|---|---|---|"];
  let headline = { ratio: 0, added: 0 };
  for (const [label, env] of variants) {
    const server = await fakeAgentServer(env);
    const { a, b } = await interleave(rounds, 20, direct, () => postRun(server.url, "hi"));
    await server.shutdown(0);
    const ratio = median(b) / median(a);
    const added = median(b) - median(a);
    if (headline.ratio === 0) headline = { ratio, added };
    details.push(`| ${label} | ${ms(median(a))} | ${ms(percentile(a, 0.99))} | ${ms(median(b))} | ${ms(percentile(b, 0.99))} | ${ratio.toFixed(2)}× | ${ms(added)} |`);
    ctx.log(`latency (${label}): direct ${ms(median(a))}, server ${ms(median(b))}, +${ms(added)}`);
  }
  const floor = await floors(rounds);
  details.push(
    "",
    `Floors on this machine: a bare \`Bun.serve\` POST round trip ${ms(floor.http)}; creating and removing a workspace (mkdtemp, mkdir, 2× rmdir) ${ms(floor.dirs)} on the temp filesystem.`,
    `${rounds} interleaved rounds after 20 warm-up rounds; the agent is \`bench/fake-agent.sh\` (a shell script that reads the prompt and prints three opencode JSON events).`,
  );
  return {
    name: "1. Server-added latency (POST /run, no-op agent)",
    target: "≤ 1.1× and ≤ 1 ms added at the median",
    met: headline.ratio <= 1.1 && headline.added <= 1,
    summary: `${headline.ratio.toFixed(2)}×, +${ms(headline.added)} at the median`,
    details,
  };
}

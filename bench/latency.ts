// 1. Server-added latency: POST /run with a no-op fake agent vs its floor — the same spawn done directly, plus a bare Bun.serve round trip.
import { existsSync, mkdirSync, mkdtempSync, rmdirSync } from "node:fs";
import { opencodeArgs } from "../src/opencode/runner.ts";
import { track, untrack } from "../src/proc/reaper.ts";
import { FAKE_AGENT, fakeAgentServer, interleave, median, ms, percentile, postRun, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

/** The agent spawned as the server spawns it (same argv, its own session and process group), read to its end. */
async function direct(): Promise<void> {
  const p = Bun.spawn(opencodeArgs(FAKE_AGENT, { runId: "bench", model: null, agent: null }), { stdin: new Blob(["hi"]), stdout: "pipe", stderr: "pipe", detached: true });
  // The in-process server reaps zombies outside its session that nobody tracks: this one is ours to wait for.
  track(p.pid);
  await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).arrayBuffer()]);
  await p.exited;
  untrack(p.pid);
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
  // The server alone first (the headline: what the server adds to a run), then the per-run containment
  // layers on top of it, whose own costs are benches 7 and 8.
  const variants: [string, Record<string, string>][] = [["SANDBOX=off, AGENT_NETWORK=open (the server alone)", { SANDBOX: "off", AGENT_NETWORK: "open" }]];
  variants.push(["bubblewrap, AGENT_NETWORK=open (no in-sandbox bridge)", { AGENT_NETWORK: "open" }]);
  variants.push(["defaults (bubblewrap, AGENT_NETWORK=proxy), temp filesystem", {}]);
  if (existsSync("/dev/shm")) variants.push(["defaults, WORK_DIR on tmpfs (/dev/shm)", { WORK_DIR: tempDir("ocs-bench-shm-", "/dev/shm") }]);
  const floor = await floors(rounds);
  const details = [
    "| configuration | spawn alone p50 | floor p50 (spawn + HTTP) | via server p50 | via server p99 | vs the floor (p50) | added (p50) |",
    "|---|---|---|---|---|---|---|",
  ];
  let headline = { ratio: 0, added: 0 };
  for (const [label, env] of variants) {
    const server = await fakeAgentServer(env);
    const { a, b } = await interleave(rounds, 20, direct, () => postRun(server.url, "hi"));
    await server.shutdown(0);
    const floorP50 = median(a) + floor.http;
    const ratio = median(b) / floorP50;
    const added = median(b) - floorP50;
    if (headline.ratio === 0) headline = { ratio, added };
    details.push(`| ${label} | ${ms(median(a))} | ${ms(floorP50)} | ${ms(median(b))} | ${ms(percentile(b, 0.99))} | ${ratio.toFixed(2)}× | ${ms(added)} |`);
    ctx.log(`latency (${label}): floor ${ms(floorP50)}, server ${ms(median(b))}, +${ms(added)}`);
  }
  details.push(
    "",
    `The floor is what no server can avoid: the agent spawned exactly as the server spawns it (same argv, \`detached\`, stdout and stderr read to the end), interleaved with the server's runs, plus a bare \`Bun.serve\` POST round trip (${ms(floor.http)}). For scale, creating and removing a workspace (mkdtemp, mkdir, 2× rmdir) costs ${ms(floor.dirs)} on the temp filesystem; the server makes its workspaces ahead and deletes them after the answer.`,
    `${rounds} interleaved rounds after 20 warm-up rounds; the agent is \`bench/fake-agent.sh\` (a shell script that reads the prompt and prints three opencode JSON events). The sandboxed rows add bubblewrap (bench 7) and the key proxy's in-sandbox bridge (bench 8) to the same server.`,
  );
  return {
    name: "1. Server-added latency (POST /run, no-op agent)",
    target: "≤ 1.1× the floor (the same spawn + a bare Bun.serve round trip) at the median, the server alone",
    met: headline.ratio <= 1.1,
    summary: `${headline.ratio.toFixed(2)}× the floor, +${ms(headline.added)} at the median`,
    details,
  };
}

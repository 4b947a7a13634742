// 5. Concurrency: 32 runs of a 1-second fake agent with MAX_CONCURRENT_RUNS=8 → wall time vs the ideal 4 s.
import { fakeAgentServer, median, ms, postRun, type BenchContext, type BenchResult } from "./support/common.ts";

const RUNS = 32;
const SLOTS = 8;
const AGENT_SECONDS = 1;

export async function concurrency(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.quick ? 1 : 5;
  const ideal = (RUNS / SLOTS) * AGENT_SECONDS * 1000;
  const server = await fakeAgentServer({ MAX_CONCURRENT_RUNS: String(SLOTS), MAX_QUEUED_RUNS: String(RUNS) });
  const walls: number[] = [];
  // The floor: one agent alone, so the table separates our scheduling from the cost of `sleep 1` in a shell.
  const singles: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      let t = performance.now();
      await postRun(server.url, `sleep ${AGENT_SECONDS}`);
      singles.push(performance.now() - t);
      t = performance.now();
      await Promise.all(Array.from({ length: RUNS }, () => postRun(server.url, `sleep ${AGENT_SECONDS}`)));
      walls.push(performance.now() - t);
    }
  } finally {
    await server.shutdown(0);
  }
  const ratio = median(walls) / ideal;
  const perWave = median(singles);
  ctx.log(`concurrency: ${ms(median(walls))} for ${RUNS} runs (ideal ${ms(ideal)}), one run alone ${ms(perWave)}`);
  return {
    name: `5. Concurrency: ${RUNS} runs of a ${AGENT_SECONDS}-second agent, MAX_CONCURRENT_RUNS=${SLOTS}`,
    target: `≤ 1.1× the ideal ${ms(ideal)}`,
    met: ratio <= 1.1,
    summary: `${ratio.toFixed(3)}× (${ms(median(walls))})`,
    details: [
      "| | median | rounds |",
      "|---|---|---|",
      `| ${RUNS} concurrent POST /run, wall time | ${ms(median(walls))} | ${walls.map(ms).join(", ")} |`,
      `| one run alone (a wave's floor) | ${ms(perWave)} | ${singles.map(ms).join(", ")} |`,
      "",
      `Ideal: ${RUNS / SLOTS} waves × ${AGENT_SECONDS} s = ${ms(ideal)}; the best a scheduler can do is ${RUNS / SLOTS} × the single-run time (${ms((RUNS / SLOTS) * perWave)}). All ${RUNS} requests are sent at once to the in-process server; the agent is \`bench/fake-agent.sh\` running \`sleep ${AGENT_SECONDS}\`.`,
    ],
  };
}

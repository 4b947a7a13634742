// 2. /health throughput at 64 connections (wrk) vs a bare Bun.serve hello-world and a bare Elysia app, each in its own process.
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnServer, type ServerProcess } from "../test/support/process-server.ts";
import { createEdge } from "../src/http/edge.ts";
import { createLogger } from "../src/lib/logger.ts";
import { Redactor } from "../src/lib/redact.ts";
import { testApp } from "../test/support/app.ts";
import { fakeAgentEnv, ROOT, median, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

/** With two or more cores, the server gets core 0 and wrk core 1: the figure is the server's, not the scheduler's. */
const PINNED = os.availableParallelism() >= 2 && Bun.which("taskset") !== null;
const pin = (core: number, cmd: string[]) => (PINNED ? ["taskset", "-c", String(core), ...cmd] : cmd);

/** The server's CPU time so far (user + system), in seconds: its cost per request is less at the mercy of other load than its rate. */
function cpuSeconds(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

interface Round {
  rps: number;
  /** Server CPU microseconds per answered request. */
  cpuUs: number;
}

async function wrk(url: string, seconds: number, pid: number): Promise<Round> {
  const before = cpuSeconds(pid);
  const p = Bun.spawn(pin(1, ["wrk", `-t${PINNED ? 1 : 2}`, "-c64", `-d${seconds}s`, url]), { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error(`wrk failed: ${await new Response(p.stderr).text()}`);
  const used = cpuSeconds(pid) - before;
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
  const total = /(\d+) requests in/.exec(out)?.[1];
  if (!rps || !total || / Non-2xx/.test(out) || /Socket errors/.test(out)) throw new Error(`wrk: unexpected output\n${out}`);
  return { rps: Number(rps), cpuUs: (used * 1e6) / Number(total) };
}

const LISTEN = `console.log(JSON.stringify({ msg: "listening", url: "http://127.0.0.1:" + s.port }));`;
const BARE = `const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") }); ${LISTEN}`;
const ELYSIA = `import { Elysia } from "elysia"; const app = new Elysia().get("/health", () => ({ status: "healthy", timestamp: new Date().toISOString() })).listen({ hostname: "127.0.0.1", port: 0 }); const s = app.server; ${LISTEN}`;

/** Microseconds per request handled in-process (no sockets): where our own time goes. */
export async function inProcess(): Promise<{ elysia: number; app: number; edge: number; native: number }> {
  const { Elysia } = await import("elysia");
  const bare = new Elysia().get("/health", () => ({ status: "healthy", timestamp: new Date().toISOString() }));
  // The server's default LOG_LEVEL=info, at which /health writes no line.
  const t = testApp({ logLevel: "info" });
  // The server's default LOG_LEVEL=info, at which /health writes no line (the test app logs at debug).
  const logger = createLogger({ level: "info", redactor: new Redactor([]), sink: () => {} });
  const edge = createEdge(t.app, logger, (method, route, status, seconds) => t.metrics.httpRequest(method, route, status, seconds));
  const per = async (fn: () => Response | Promise<Response>) => {
    const n = 50_000;
    for (let i = 0; i < 10_000; i++) await (await fn()).arrayBuffer();
    const s = performance.now();
    for (let i = 0; i < n; i++) await (await fn()).arrayBuffer();
    return ((performance.now() - s) * 1000) / n;
  };
  const rounds = { elysia: [] as number[], app: [] as number[], edge: [] as number[], native: [] as number[] };
  const native = t.routes["/health"].GET;
  for (let i = 0; i < 3; i++) {
    rounds.elysia.push(await per(() => bare.fetch(new Request("http://localhost/health"))));
    rounds.app.push(await per(() => t.app.fetch(new Request("http://localhost/health"))));
    rounds.edge.push(await per(() => edge(new Request("http://localhost/health"))));
    rounds.native.push(await per(() => native(new Request("http://localhost/health", { headers: { host: "localhost" } }), null)));
  }
  return { elysia: median(rounds.elysia), app: median(rounds.app), edge: median(rounds.edge), native: median(rounds.native) };
}

export async function throughput(ctx: BenchContext): Promise<BenchResult> {
  if (!Bun.which("wrk")) throw new Error("wrk is not installed (apt-get install wrk)");
  const seconds = ctx.quick ? 2 : 8;
  const rounds = ctx.quick ? 1 : 5;
  const script = tempDir("ocs-bench-elysia-", ROOT);
  await Bun.write(path.join(script, "elysia.ts"), ELYSIA);
  const servers: Record<"ours" | "bare" | "elysia", ServerProcess> = {
    ours: await spawnServer(pin(0, [process.execPath, path.join(ROOT, "src/main.ts")]), fakeAgentEnv()),
    bare: await spawnServer(pin(0, [process.execPath, "-e", BARE]), {}, { waitForOpencode: false }),
    elysia: await spawnServer(pin(0, [process.execPath, path.join(script, "elysia.ts")]), {}, { waitForOpencode: false }),
  };
  const rounds_: Record<keyof typeof servers, Round[]> = { ours: [], bare: [], elysia: [] };
  try {
    for (let i = 0; i < rounds; i++) {
      rounds_.bare.push(await wrk(`${servers.bare.url}/`, seconds, servers.bare.proc.pid));
      rounds_.ours.push(await wrk(`${servers.ours.url}/health`, seconds, servers.ours.proc.pid));
      rounds_.elysia.push(await wrk(`${servers.elysia.url}/health`, seconds, servers.elysia.proc.pid));
    }
  } finally {
    for (const s of Object.values(servers)) await s.stop();
  }
  const rps = { ours: rounds_.ours.map((r) => r.rps), bare: rounds_.bare.map((r) => r.rps), elysia: rounds_.elysia.map((r) => r.rps) };
  const cpu = { ours: median(rounds_.ours.map((r) => r.cpuUs)), bare: median(rounds_.bare.map((r) => r.cpuUs)), elysia: median(rounds_.elysia.map((r) => r.cpuUs)) };
  const micro = await inProcess();
  const ratio = median(rps.ours) / median(rps.bare);
  ctx.log(`throughput: /health ${median(rps.ours).toFixed(0)} req/s, bare ${median(rps.bare).toFixed(0)}, bare Elysia ${median(rps.elysia).toFixed(0)}`);
  const row = (label: string, xs: number[], us: number) =>
    `| ${label} | ${median(xs).toFixed(0)} | ${(median(xs) / median(rps.bare)).toFixed(2)}× | ${us.toFixed(2)} | ${(cpu.bare / us).toFixed(2)}× | ${xs.map((x) => x.toFixed(0)).join(", ")} |`;
  return {
    name: "2. /health throughput, 64 connections",
    target: "≥ 0.8× a bare Bun.serve hello-world",
    met: ratio >= 0.8,
    summary: `${ratio.toFixed(2)}× (${median(rps.ours).toFixed(0)} vs ${median(rps.bare).toFixed(0)} req/s); CPU per request ${cpu.ours.toFixed(1)} vs ${cpu.bare.toFixed(1)} µs (${(cpu.bare / cpu.ours).toFixed(2)}×)`,
    details: [
      "| server | requests/s (median) | vs bare Bun.serve | server CPU µs/request (median) | bare's CPU per request ÷ this one | rounds (req/s) |",
      "|---|---|---|---|---|---|",
      row("opencode-server GET /health", rps.ours, cpu.ours),
      row("bare Bun.serve hello-world", rps.bare, cpu.bare),
      row("bare Elysia GET /health (one route, no plugins)", rps.elysia, cpu.elysia),
      "",
      "Handled in-process without sockets (µs per request, median of 3 × 50,000):",
      "",
      "| | µs/request |",
      "|---|---|",
      `| bare Elysia, same route | ${micro.elysia.toFixed(2)} |`,
      `| our Elysia app (auth, size guard, zod response validation) | ${micro.app.toFixed(2)} |`,
      `| our app behind the edge handler (request id, metrics, log decision): every other route | ${micro.edge.toFixed(2)} |`,
      `| the native /health route (same answer, id, metric and log decision, no framework) — what the server runs for GET /health | ${micro.native.toFixed(2)} |`,
      "",
      `\`wrk -c64 -d${seconds}s\`, ${rounds} alternating round(s) each; ${PINNED ? "each server pinned to core 0 and wrk (one thread) to core 1 with taskset" : "unpinned"}. CPU per request is the server process's user + system time (/proc/<pid>/stat) over a round divided by the requests wrk counted: unlike the rate, it barely moves when other work shares the machine. /health is logged at debug level, so the default LOG_LEVEL=info server writes no line per probe.`,
    ],
  };
}

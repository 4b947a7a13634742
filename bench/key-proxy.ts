// 8. What the key proxy adds to a streamed model response: first byte and total, direct vs through the proxy (and through the sandbox's bridge).
import path from "node:path";
import { ProviderProxy, placeholderOf } from "../src/network/provider-proxy.ts";
import { median, ms, percentile, removeTempDirs, ROOT, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";
const PIECES = 20;
const BRIDGE_PORT = 40000 + (process.pid % 20000);

interface Timing {
  first: number;
  total: number;
}

/** One streamed completion: time to its first byte and to its end. */
async function streamed(url: string, init: RequestInit): Promise<Timing> {
  const t = performance.now();
  const res = await fetch(url, init);
  let first = 0;
  for await (const _ of res.body as ReadableStream<Uint8Array>) if (first === 0) first = performance.now() - t;
  return { first, total: performance.now() - t };
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await Bun.sleep(10);
  }
  throw new Error("the bridge did not listen");
}

export async function keyProxy(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.quick ? 30 : 400;
  const body = Array.from({ length: PIECES }, (_, i) => `data: {"choices":[{"delta":{"content":"token ${i} "}}]}\n\n`);
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new Response(
        new ReadableStream({
          start(c) {
            for (const piece of body) c.enqueue(new TextEncoder().encode(piece));
            c.close();
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      ),
  });
  const proxy = new ProviderProxy([{ id: "fake", upstream: `http://127.0.0.1:${upstream.port}/v1`, key: "sk-real" }]);
  const proxyPort = proxy.listen({ port: 0 }) as number;
  const sock = path.join(tempDir("ocs-bench-kp-"), "provider.sock");
  proxy.listen({ unix: sock });
  proxy.register(TOKEN);
  // The path a network-less sandbox takes: its loopback → the bridge → the unix socket → the proxy.
  const bridge = Bun.spawn([process.execPath, path.join(ROOT, "src/network/bridge.ts"), "--tcp", `${BRIDGE_PORT}=${sock}`, "--", "sleep", "3600"], { stdout: "ignore", stderr: "inherit" });
  try {
    await waitListening(BRIDGE_PORT);
    const init = { method: "POST", headers: { authorization: `Bearer ${placeholderOf(TOKEN)}`, "content-type": "application/json" }, body: '{"model":"m","stream":true}' };
    const variants = [
      { name: "direct", url: `http://127.0.0.1:${upstream.port}/v1/chat/completions` },
      { name: "key proxy (TCP)", url: `http://127.0.0.1:${proxyPort}/p/fake/chat/completions` },
      { name: "bridge → unix socket → key proxy", url: `http://127.0.0.1:${BRIDGE_PORT}/p/fake/chat/completions` },
    ];
    const results = variants.map(() => [] as Timing[]);
    for (let i = 0; i < n + 20; i++) {
      for (const [k, v] of variants.entries()) {
        const t = await streamed(v.url, init);
        if (i >= 20) results[k]?.push(t);
      }
    }
    const details = ["| path | first byte p50 | total p50 | total p99 | added to total at p50 |", "|---|---|---|---|---|"];
    const directTotal = median((results[0] as Timing[]).map((t) => t.total));
    for (const [k, v] of variants.entries()) {
      const r = results[k] as Timing[];
      const total = r.map((t) => t.total);
      details.push(`| ${v.name} | ${ms(median(r.map((t) => t.first)))} | ${ms(median(total))} | ${ms(percentile(total, 0.99))} | ${k === 0 ? "—" : ms(median(total) - directTotal)} |`);
      ctx.log(`key-proxy: ${v.name} first ${ms(median(r.map((t) => t.first)))} total ${ms(median(total))}`);
    }
    details.push("", `${n} interleaved streamed completions (${PIECES} SSE pieces each) after 20 warm-up rounds, client and servers in one Bun process except the bridge (its own process, as in a sandbox).`);
    const added = median((results[1] as Timing[]).map((t) => t.total)) - directTotal;
    const addedBridged = median((results[2] as Timing[]).map((t) => t.total)) - directTotal;
    return {
      name: "8. Key proxy latency",
      target: "≤ 1 ms added per request at p50",
      met: added <= 1 && addedBridged <= 1,
      summary: `+${ms(added)} through the proxy, +${ms(addedBridged)} through the bridge and the proxy (direct ${ms(directTotal)})`,
      details,
    };
  } finally {
    bridge.kill("SIGKILL");
    await bridge.exited;
    proxy.stop();
    void upstream.stop(true);
  }
}

if (import.meta.main) {
  try {
    const result = await keyProxy({ quick: process.argv.includes("--quick"), log: (line) => console.log(line) });
    console.log([`## ${result.name}`, "", `Target: ${result.target}. Result: ${result.summary} — ${result.met ? "met" : "missed"}.`, "", ...result.details].join("\n"));
  } finally {
    removeTempDirs();
  }
}

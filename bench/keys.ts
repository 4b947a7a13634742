// 14. Key matching: the cost of authenticating a request with 1 / 10 / 100 configured keys, for the first key, the last key and a wrong one.
import { randomBytes } from "node:crypto";
import { KeyRegistry } from "../src/auth/keys.ts";
import { median, type BenchContext, type BenchResult } from "./support/common.ts";

const SIZES = [1, 10, 100];
/** Largest ratio between the three cases at one size that still reads as "the same cost". */
const SPREAD = 1.2;

const newKey = () => `ocs_${randomBytes(32).toString("base64url")}`;

/** Microseconds per match, median of `rounds` rounds of `n` matches; the three cases interleaved round by round. */
function measure(registry: KeyRegistry, cases: Record<string, string>, n: number, rounds: number): Record<string, number> {
  const per: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [label, key] of Object.entries(cases)) {
      const presented = [key];
      const t = performance.now();
      for (let i = 0; i < n; i++) registry.match(presented);
      (per[label] as number[]).push(((performance.now() - t) * 1000) / n);
    }
  }
  return Object.fromEntries(Object.entries(per).map(([k, v]) => [k, median(v)]));
}

export async function keys(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.quick ? 2_000 : 20_000;
  const rounds = ctx.quick ? 3 : 15;
  const rows: string[] = [];
  let worst = 1;
  for (const size of SIZES) {
    const configured = Array.from({ length: size }, newKey);
    const registry = new KeyRegistry(configured, [], null);
    // Warm the code paths before timing.
    measure(registry, { first: configured[0] as string }, n, 1);
    const us = measure(registry, { first: configured[0] as string, last: configured[size - 1] as string, wrong: newKey() }, n, rounds);
    const values = Object.values(us);
    const spread = Math.max(...values) / Math.min(...values);
    worst = Math.max(worst, spread);
    rows.push(`| ${size} | ${us.first?.toFixed(2)} | ${us.last?.toFixed(2)} | ${us.wrong?.toFixed(2)} | ${spread.toFixed(2)}× |`);
    ctx.log(`keys: ${size} key(s): first ${us.first?.toFixed(2)} µs, last ${us.last?.toFixed(2)} µs, wrong ${us.wrong?.toFixed(2)} µs`);
  }
  return {
    name: "14. Key matching (constant time over every configured key)",
    target: `the first key, the last key and a wrong one cost the same (within ${SPREAD}×) at 1, 10 and 100 keys`,
    met: worst <= SPREAD,
    summary: `largest spread ${worst.toFixed(2)}× between first / last / wrong; ${rows.length} sizes`,
    details: [
      "| configured keys | first key (µs) | last key (µs) | wrong key (µs) | spread |",
      "|---|---|---|---|---|",
      ...rows,
      "",
      `\`KeyRegistry.match\` in-process (the digest of the presented key, then a \`timingSafeEqual\` with every configured digest), median of ${rounds} interleaved rounds of ${n.toLocaleString("en-US")} matches. The cost grows with the number of keys by design: every key is compared on every request, so the time says nothing of which key matched.`,
    ],
  };
}

// 12. Webhooks: what a subscribed run adds to POST /run, how soon its end reaches the receiver, and whether hanging receivers slow a healthy one.
import { waitFor } from "../test/support/wait.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../test/support/webhook-receiver.ts";
import { fakeAgentServer, interleave, median, ms, percentile, postRun, type BenchContext, type BenchResult } from "./support/common.ts";

const SECRET = "whsec-bench-5f0c2e8a9b7d4e61";

/** Run end (its finished_at, stored before delivery) → the receiver has the delivery, per delivery (ms). */
function endToReceipt(r: WebhookReceiver, path: string): number[] {
  return r.deliveries
    .filter((d) => d.path === path && d.answer === "200")
    .map((d) => d.at - Date.parse(String(((d.json as { run: { finished_at: string } }).run).finished_at)));
}

function settle(r: WebhookReceiver, path: string, n: number): Promise<unknown> {
  return waitFor(() => r.deliveries.filter((d) => d.path === path && d.answer === "200").length >= n, { timeoutMs: 60_000, what: `${n} deliveries to ${path}` });
}

export async function webhooks(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.quick ? 5 : 300;
  const warmup = ctx.quick ? 1 : 30;
  const healthy = await startWebhookReceiver({ secret: SECRET });
  const stuck = await startWebhookReceiver({ secret: SECRET, fallback: { kind: "hang" } });
  const prefixes = [healthy.url("/"), stuck.url("/")].join(",");
  const server = await fakeAgentServer({ WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOWED_PREFIXES: prefixes, WEBHOOK_TIMEOUT: "30s", SANDBOX: "off", LOG_LEVEL: "warn" });
  try {
    // Interleaved: the same server, runs with and without a callback.
    const t = interleave(rounds, warmup, () => postRun(server.url, { prompt: "hi" }), () => postRun(server.url, { prompt: "hi", callback_url: healthy.url("/quiet") }));
    const { a: plain, b: subscribed } = await t;
    await settle(healthy, "/quiet", rounds + warmup);
    const quiet = endToReceipt(healthy, "/quiet").slice(warmup);

    // Two receivers that never answer hold their two slots each (at most 2 per host) while the healthy one is delivered to.
    for (let i = 0; i < 4; i++) await postRun(server.url, { prompt: "hi", callback_url: stuck.url("/hang") });
    const loadedRounds = Math.min(rounds, 100);
    for (let i = 0; i < loadedRounds; i++) await postRun(server.url, { prompt: "hi", callback_url: healthy.url("/busy") });
    await settle(healthy, "/busy", loadedRounds);
    const busy = endToReceipt(healthy, "/busy");
    const hung = stuck.hung;

    const added = median(subscribed) - median(plain);
    const met = added <= 1 && median(quiet) <= 50 && median(busy) <= 50;
    return {
      name: "12. Webhooks (POST /run with callback_url, no-op agent)",
      target: "a subscribed run ≤ 1 ms slower at p50; run end → delivery received p50 ≤ 50 ms, also while receivers hang",
      met,
      summary: `${added >= 0 ? "+" : "−"}${ms(Math.abs(added))} at p50; end → received p50 ${ms(median(quiet))} (p99 ${ms(percentile(quiet, 0.99))}); with ${hung} attempts hanging p50 ${ms(median(busy))}`,
      details: [
        `- POST /run, interleaved on one server (${rounds} rounds each after ${warmup} warm-up): without callback_url p50 ${ms(median(plain))} (p99 ${ms(percentile(plain, 0.99))}), with one p50 ${ms(median(subscribed))} (p99 ${ms(percentile(subscribed, 0.99))}).`,
        "  The subscribed run's own path writes one more row (its delivery, in the commit of its end); the delivery itself — store reads, signing, the POST — runs after the answer, between runs.",
        `- Run end (finished_at) → the receiver has the signed delivery: p50 ${ms(median(quiet))}, p99 ${ms(percentile(quiet, 0.99))} (the dispatcher is woken by the run's end; no poll wait).`,
        `- With a receiver that never answers (${hung} attempts in flight, held until WEBHOOK_TIMEOUT=30s; at most 2 per host), ${loadedRounds} runs to a healthy receiver: end → received p50 ${ms(median(busy))}, p99 ${ms(percentile(busy, 0.99))}.`,
      ],
    };
  } finally {
    await server.shutdown(0);
    await healthy.stop();
    await stuck.stop();
  }
}

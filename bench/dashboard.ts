// 13. Dashboard: what a first load moves, how fast the list and a 10,000-event run page show in Chromium, and what bundling web/ costs at start-up.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { dashboardScript, dashboardStyles } from "../src/modules/dashboard/bundle.ts";
import { FINAL_STATUSES, type RunEvent, type RunEventBody, type RunRecord, type RunStatus } from "../src/runs/model.ts";
import type { RunStore } from "../src/runs/store.ts";
import { outcome, record } from "../test/store/fixtures.ts";
import { countTransfer } from "../test/support/transfer.ts";
import { fakeAgentServer, median, ms, percentile, type BenchContext, type BenchResult } from "./support/common.ts";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"];
const RUNS = 3_000;
const EVENTS = 10_000;
const BUDGET_BYTES = 150 * 1024;

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/** A finished run stored directly, with `texts` text events between its status events. */
async function storeRun(store: RunStore, at: number, i: number, texts: number): Promise<string> {
  const id = crypto.randomUUID();
  const status = FINAL_STATUSES[i % FINAL_STATUSES.length] as RunStatus;
  const ev = (seq: number, body: RunEventBody): RunEvent => ({ run_id: id, seq, time: new Date(at).toISOString(), ...body });
  const r: RunRecord = record(id, at, { status: "running", startedAt: at, title: `stored run ${i}`, model: "fake/model" });
  await store.insertRunning(r, [ev(1, { type: "status", status: "queued" }), ev(2, { type: "status", status: "running" })]);
  const body = Array.from({ length: texts }, (_, k) => ev(3 + k, { type: "text", text: `line ${k + 1} of the agent's output` }));
  for (let k = 0; k < body.length; k += 1000) await store.appendEvents(body.slice(k, k + 1000));
  const o = outcome(id);
  const answer = { ...o, usage: { ...o.usage, cost: i / 10_000 } };
  await store.finish(id, { status, code: null, error: null, at: at + 1500, outcome: answer }, [ev(3 + texts, { type: "status", status }), ev(4 + texts, { type: "result", status, answer })]);
  return id;
}

/** Loads `url` in a fresh context and waits for `ready` (a JS condition); ms from navigation to ready. */
async function timeLoad(browser: Browser, url: string, ready: string): Promise<number> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const at = performance.now();
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(ready, { timeout: 60_000 });
  const took = performance.now() - at;
  await context.close();
  return took;
}

/** Bytes a cold first load of /ui moved (compressed, headers included) — the page and its files, and everything. */
async function firstLoad(browser: Browser, url: string): Promise<{ code: number; all: number; files: string[] }> {
  const context = await browser.createBrowserContext();
  const page: Page = await context.newPage();
  const cdp = await page.createCDPSession();
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  const transfer = countTransfer(cdp);
  await page.goto(url, { waitUntil: "networkidle0" });
  await page.waitForFunction("document.querySelectorAll('[data-testid=run-row]').length === 50");
  await context.close();
  const files = [...transfer.byPath].map(([p, b]) => `${p.replace(/\.[0-9a-z]{10}\./, ".<hash>.")} ${kb(b)}`);
  return { code: transfer.sum((p) => p.startsWith("/ui")), all: transfer.sum(), files };
}

export async function dashboard(ctx: BenchContext): Promise<BenchResult> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_BIN)`);
  const rounds = ctx.quick ? 2 : 15;
  const bundles: number[] = [];
  for (let i = 0; i < (ctx.quick ? 2 : 20); i++) {
    const at = performance.now();
    dashboardScript();
    dashboardStyles();
    bundles.push(performance.now() - at);
  }
  const server = await fakeAgentServer({ SANDBOX: "off", LOG_LEVEL: "warn" });
  const profile = mkdtempSync(path.join(os.tmpdir(), "ocs-bench-chromium-"));
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, userDataDir: profile, args: FLAGS });
  try {
    const base = Date.now() - RUNS * 60_000;
    let big = "";
    for (let i = 0; i < RUNS; i++) {
      const id = await storeRun(server.store, base + i * 60_000, i, i === RUNS - 1 ? EVENTS : 0);
      if (i === RUNS - 1) big = id;
    }
    const load = await firstLoad(browser, `${server.url}/ui`);
    const list: number[] = [];
    const page: number[] = [];
    for (let i = 0; i < rounds; i++) {
      list.push(await timeLoad(browser, `${server.url}/ui`, "document.querySelectorAll('[data-testid=run-row]').length === 50"));
      page.push(await timeLoad(browser, `${server.url}/ui/runs/${big}`, `document.querySelector('[data-testid=event-count]')?.textContent?.includes('of ${(EVENTS + 4).toLocaleString("en-US")} events') === true`));
    }
    const met = load.code <= BUDGET_BYTES && median(page) <= 1000;
    return {
      name: "13. Dashboard (headless Chromium, cold context per load)",
      target: `first load ≤ ${BUDGET_BYTES / 1024} KB; a ${EVENTS.toLocaleString("en-US")}-event run page shown ≤ 1 s at p50`,
      met,
      summary: `first load ${kb(load.code)} (page and files; ${kb(load.all)} with its data); list of ${RUNS.toLocaleString("en-US")} runs p50 ${ms(median(list))}; ${EVENTS.toLocaleString("en-US")}-event run page p50 ${ms(median(page))}; bundling web/ ${ms(median(bundles))}`,
      details: [
        `- A cold first load of /ui (cache disabled) moved ${load.code} bytes for the page and its files, ${load.all} bytes with /health and the first 50 runs of GET /runs: ${load.files.join(", ")}.`,
        `- Navigation → the first 50 of ${RUNS.toLocaleString("en-US")} stored runs listed: p50 ${ms(median(list))}, p99 ${ms(percentile(list, 0.99))} (${rounds} loads, each in a new browser context: empty cache, no session).`,
        `- Navigation → a run with ${(EVENTS + 4).toLocaleString("en-US")} events replayed and the newest 300 drawn: p50 ${ms(median(page))}, p99 ${ms(percentile(page, 0.99))}.`,
        `- Bundling web/ (script and stylesheet, \`bun build --production\`), what running from source pays at start-up (the compiled binary embeds the result): p50 ${ms(median(bundles))}, p99 ${ms(percentile(bundles, 0.99))}.`,
      ],
    };
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
    await server.shutdown(0);
  }
}

// The dashboard in a real Chromium at scale and on small screens: thousands of runs, a 10,000-event run, a diff, a phone, the keyboard, the first load's size.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import type { AgentInput } from "../../src/opencode/types.ts";
import { FINAL_STATUSES, type RunEvent, type RunStatus } from "../../src/runs/model.ts";
import { clickOn, launchBrowser, renderedSeqs, screenshot, waitForText, watchedPage, type TestBrowser } from "./browser.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { loggingGit, startGitServer, type GitServer } from "../support/git-server.ts";
import { readJson } from "../support/http.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { tempDir } from "../support/temp.ts";
import { countTransfer } from "../support/transfer.ts";
import { waitFor } from "../support/wait.ts";
import { outcome, record } from "../store/fixtures.ts";

const STORED_RUNS = 3_000;
const EVENTS = 10_000;
const TOKEN = "dashboard-scale-git-token";
/** What a first load may transfer (the issue's target). */
const FIRST_LOAD_BUDGET = 150 * 1024;

let browser: TestBrowser;
let server: TestServer;
let git: GitServer;
const spy = loggingGit();

async function agent(input: AgentInput) {
  if (input.prompt.startsWith("flood")) {
    for (let i = 1; i <= EVENTS; i++) input.onEvent({ type: "text", text: `line ${i}` });
    return { output: `printed ${EVENTS} lines` };
  }
  if (input.prompt.startsWith("edit")) {
    await Bun.write(path.join(input.cwd, "README.md"), "# delta\nA second line.\n");
    await Bun.write(path.join(input.cwd, "src/fib.ts"), 'export function fib(n: number): number {\n  // the slow way\n  return n < 2 ? n : fib(n - 1) + fib(n - 2);\n}\nconst greeting = "hello";\n');
    return { output: "edited" };
  }
  return { output: "ok" };
}

beforeAll(async () => {
  git = startGitServer({ token: TOKEN });
  await git.createRepo("delta", { files: { "README.md": "# delta\n" } });
  const home = tempDir("ocs-dash-scale-home-");
  server = await startTestServer(
    {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      HOST: "127.0.0.1",
      PORT: "0",
      WORK_DIR: tempDir("ocs-dash-scale-work-"),
      DATA_DIR: tempDir("ocs-dash-scale-data-"),
      LOG_LEVEL: "error",
      OPENCODE_MODEL: "fake/model",
      ALLOWED_REPO_PREFIXES: `${git.url}/`,
      GIT_BIN: spy.bin,
      GIT_TOKEN: TOKEN,
      // The loopback git server as a Gitea: pushed runs link their branch and commit.
      FORGES: `${git.url}/=gitea`,
      GIT_AUTHOR_NAME: "test",
      GIT_AUTHOR_EMAIL: "test@localhost",
    },
    { runner: new FakeRunner(agent), opencodeVersion: "9.9.9" },
  );
  // Thousands of finished runs, written straight into the store (as many days of use would leave them).
  const store = server.server.store;
  const base = Date.now() - STORED_RUNS * 60_000;
  for (let i = 0; i < STORED_RUNS; i++) {
    const id = crypto.randomUUID();
    const at = base + i * 60_000;
    const status = FINAL_STATUSES[i % FINAL_STATUSES.length] as RunStatus;
    const ev = (seq: number, s: RunStatus): RunEvent => ({ run_id: id, seq, time: new Date(at).toISOString(), type: "status", status: s });
    await store.insertRunning(record(id, at, { status: "running", startedAt: at, title: `stored run ${i}`, model: "fake/model" }), [ev(1, "queued"), ev(2, "running")]);
    const o = outcome(id);
    await store.finish(id, { status, code: null, error: null, at: at + 1500, outcome: { ...o, usage: { ...o.usage, cost: i / 10_000 } } }, [ev(3, status)]);
  }
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await git?.stop();
});

async function startRun(body: Record<string, unknown>): Promise<string> {
  const id = String((await readJson(await fetch(`${server.url}/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }))).id);
  await waitFor(async () => ["succeeded", "failed"].includes(String((await readJson(await fetch(`${server.url}/runs/${id}`))).status)), { what: "the run to end" });
  return id;
}

describe("the dashboard at scale", () => {
  test(`${STORED_RUNS} runs: pages of 50, newest first, older and newer pages by cursor`, async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${server.url}/ui`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=run-row]");
    const titles = () => page.$$eval("[data-testid=run-row] [data-testid=run-title]", (els) => els.map((e) => e.textContent));
    const first = await titles();
    expect(first).toEqual(Array.from({ length: 50 }, (_, i) => `stored run ${STORED_RUNS - 1 - i}`));
    await clickOn(page, "[data-testid=older-page]");
    await page.waitForFunction((t: string) => document.querySelector("[data-testid=run-row] [data-testid=run-title]")?.textContent === t, {}, `stored run ${STORED_RUNS - 51}`);
    expect((await titles()).length).toBe(50);
    await clickOn(page, "[data-testid=newer-page]");
    await page.waitForFunction((t: string) => document.querySelector("[data-testid=run-row] [data-testid=run-title]")?.textContent === t, {}, `stored run ${STORED_RUNS - 1}`);
    expect(problems).toEqual([]);
    await page.close();
  });

  test(`a run with ${EVENTS} events: the page renders the newest few hundred, and more on request`, async () => {
    const id = await startRun({ prompt: "flood the page" });
    const { page, problems } = await watchedPage(browser);
    const at = performance.now();
    await page.goto(`${server.url}/ui/runs/${id}`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=result]");
    // queued, running, the text events, succeeded, the result.
    await waitForText(page, "[data-testid=event-count]", `Showing 300 of ${(EVENTS + 4).toLocaleString("en-US")} events`);
    console.log(`[dashboard] ${EVENTS} events: page shown with its result in ${Math.round(performance.now() - at)} ms`);
    const shown = await renderedSeqs(page);
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.length).toBeLessThanOrEqual(400);
    await waitForText(page, "[data-testid=events]", `line ${EVENTS}`);
    await clickOn(page, "[data-testid=show-earlier]");
    await page.waitForFunction((n: number) => document.querySelectorAll("[data-testid=events] .event[data-seq]").length > n, {}, shown.length);
    const more = await renderedSeqs(page);
    expect(more.slice(-shown.length)).toEqual(shown);
    expect(problems).toEqual([]);
    await page.close();
  });

  test("a repository run's diff: one collapsible section per file, lines marked added/removed, code highlighted", async () => {
    const id = await startRun({ prompt: "edit two files", repository: git.repoUrl("delta") });
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${server.url}/ui/runs/${id}`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=diff-file]");
    const files = await page.$$eval("[data-testid=diff-file]", (els) => els.map((e) => [e.getAttribute("data-path"), (e as HTMLDetailsElement).open]));
    expect(files).toEqual([
      ["README.md", true],
      ["src/fib.ts", true],
    ]);
    // The push links to the forge's pages of the branch and the commit, in a new tab, telling them nothing.
    await page.waitForSelector('[data-testid=events] .event[data-type="result"]');
    const view = await readJson(await fetch(`${server.url}/runs/${id}`));
    const { branch, commit } = view.result as { branch: string; commit: string };
    const links = await page.$$eval("[data-testid=events] .event-git a", (as) => as.map((a) => [a.getAttribute("href"), a.getAttribute("target"), a.getAttribute("rel")]));
    expect(links).toEqual(
      expect.arrayContaining([
        [`${git.url}/delta/src/branch/${branch}`, "_blank", "noopener noreferrer"],
        [`${git.url}/delta/commit/${commit}`, "_blank", "noopener noreferrer"],
      ]),
    );
    const ts = '[data-testid=diff-file][data-path="src/fib.ts"]';
    expect(await page.$$eval(`${ts} .tok-keyword`, (els) => [...new Set(els.map((e) => e.textContent))].sort())).toEqual(expect.arrayContaining(["const", "export", "function", "return"]));
    expect(await page.$$eval(`${ts} .tok-string`, (els) => els.map((e) => e.textContent))).toContain('"hello"');
    expect(await page.$$eval(`${ts} .tok-comment`, (els) => els.map((e) => e.textContent))).toContain("// the slow way");
    await clickOn(page, `${ts} summary`);
    expect(await page.$eval(ts, (e) => (e as HTMLDetailsElement).open)).toBe(false);
    await clickOn(page, `${ts} summary`);
    await screenshot(page, "run-diff");
    expect(problems).toEqual([]);
    await page.close();
  });

  test("a phone-width screen: list and run page fit without sideways scrolling", async () => {
    const id = await startRun({ prompt: `edit on a phone ${"with a very long prompt line ".repeat(6)}`, repository: git.repoUrl("delta") });
    const { page, problems } = await watchedPage(browser, { width: 375, height: 812 });
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    await page.goto(`${server.url}/ui`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=run-row]");
    expect(await fits()).toBe(true);
    await screenshot(page, "run-list-phone");
    await page.goto(`${server.url}/ui/runs/${id}`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=diff-file]");
    expect(await fits()).toBe(true);
    await screenshot(page, "run-page-phone");
    expect(problems).toEqual([]);
    await page.close();
  });

  test("by keyboard alone: Tab to the prompt, type, Ctrl+Enter starts the run and opens its page", async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${server.url}/ui`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=prompt-input]");
    let tabs = 0;
    while (!(await page.evaluate(() => document.activeElement?.getAttribute("data-testid") === "prompt-input")) && tabs < 40) {
      await page.keyboard.press("Tab");
      tabs++;
    }
    expect(tabs).toBeLessThan(40);
    // Each focused control shows where the focus is.
    expect(await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle)).not.toBe("none");
    await page.keyboard.type("typed by keyboard");
    await page.keyboard.down("Control");
    await page.keyboard.press("Enter");
    await page.keyboard.up("Control");
    await page.waitForSelector('[data-testid=run-page][data-status="succeeded"]', { timeout: 10_000 });
    expect(await page.$eval("[data-testid=run-page]", (el) => el.textContent ?? "")).toContain("typed by keyboard");
    expect(problems).toEqual([]);
    await page.close();
  });

  test(`a first load (empty cache) transfers at most ${FIRST_LOAD_BUDGET / 1024} KB, all from this server`, async () => {
    const { page, problems, responses } = await watchedPage(browser);
    const cdp = await page.createCDPSession();
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    const transfer = countTransfer(cdp);
    await page.goto(`${server.url}/ui`, { waitUntil: "networkidle0" });
    await page.waitForSelector("[data-testid=run-row]");
    const files = responses.filter((r) => r.includes("/ui"));
    const code = transfer.sum((p) => p.startsWith("/ui"));
    const bytes = transfer.sum();
    console.log(`[dashboard] first load: ${bytes} bytes transferred in all (${(bytes / 1024).toFixed(1)} KB), of which the page and its files ${code} bytes (${(code / 1024).toFixed(1)} KB); ${[...transfer.byPath].map(([p, b]) => `${p} ${b}`).join(", ")}`);
    expect(files.map((r) => r.replace(/\.[0-9a-z]{1,10}\./, ".HASH."))).toEqual(
      expect.arrayContaining(["200 /ui", "200 /ui/assets/app.HASH.css", "200 /ui/assets/app.HASH.js"]),
    );
    expect(bytes).toBeLessThanOrEqual(FIRST_LOAD_BUDGET);
    expect(problems).toEqual([]);
    await page.close();
  });
});

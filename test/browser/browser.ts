// Headless Chromium (Debian's package) through puppeteer-core, with every page's console errors, uncaught exceptions and CSP violations collected.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { ROOT } from "../support/process-server.ts";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"];

/** Where screenshots go (the README's come from here); CI keeps the directory as the tests' artifacts. */
export const ARTIFACTS = process.env.TEST_ARTIFACTS ?? path.join(ROOT, ".artifacts");

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  // Never skipped: CI installs Debian's chromium (.ci/run), and a developer needs it too.
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_BIN)`);
  const profile = mkdtempSync(path.join(os.tmpdir(), "ocs-chromium-"));
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, userDataDir: profile, args: FLAGS });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface WatchedPage {
  page: Page;
  /** Console errors, uncaught exceptions, failed requests and CSP violations, in order. */
  problems: string[];
  /** Every response: "<status> <path>". */
  responses: string[];
}

/**
 * A new page (its own browser context: its own sessionStorage) that records what went wrong. CSP
 * violations are caught twice: the `securitypolicyviolation` event in the page, and Chrome's console report.
 */
export async function watchedPage(b: TestBrowser, viewport = { width: 1280, height: 900 }): Promise<WatchedPage> {
  const context = await b.browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport(viewport);
  const problems: string[] = [];
  const responses: string[] = [];
  await page.exposeFunction("__reportCsp", (what: string) => problems.push(`CSP violation: ${what}`));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      (window as unknown as { __reportCsp(w: string): void }).__reportCsp(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
    });
  });
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warn") problems.push(`console.${msg.type()}: ${msg.text()} (${msg.location().url ?? "?"})`);
  });
  page.on("pageerror", (err) => problems.push(`uncaught: ${String(err)}`));
  page.on("requestfailed", (req) => {
    // Leaving a page aborts its event stream: that is the page doing its job, not a failure.
    if (req.failure()?.errorText !== "net::ERR_ABORTED") problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ""}`);
  });
  page.on("response", (res) => responses.push(`${res.status()} ${new URL(res.url()).pathname}`));
  return { page, problems, responses };
}

/**
 * Clicks `selector` once it is on the page and visible: the page renders after its own requests answer
 * (/health, the run), so an element a test is about to use may not be there yet.
 */
export async function clickOn(page: Page, selector: string): Promise<void> {
  await (await page.waitForSelector(selector, { visible: true }))?.click();
}

/** Types into `selector` once it is on the page and visible. */
export async function typeInto(page: Page, selector: string, text: string): Promise<void> {
  await (await page.waitForSelector(selector, { visible: true }))?.type(text);
}

/** Waits for `selector` to exist with `text` in its textContent (a live update, not a reload). */
export async function waitForText(page: Page, selector: string, text: string, timeoutMs = 10_000): Promise<void> {
  await page.waitForFunction((s: string, t: string) => [...document.querySelectorAll(s)].some((el) => el.textContent?.includes(t)), { timeout: timeoutMs }, selector, text);
}

/** The run page's rendered event numbers, in DOM order. */
export function renderedSeqs(page: Page): Promise<number[]> {
  return page.$$eval("[data-testid=events] .event[data-seq]", (els) => els.map((e) => Number(e.getAttribute("data-seq"))));
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = path.join(ARTIFACTS, "screenshots");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file as `${string}.png`, fullPage: false });
  return file;
}

// The dashboard's API key in a real Chromium: asked for once, a wrong key refused, kept in sessionStorage only, sent as a header, forgotten on request.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { clickOn, launchBrowser, typeInto, watchedPage, type TestBrowser } from "./browser.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { tempDir } from "../support/temp.ts";

const API_KEY = "dashboard-browser-key-6c1f0e9a2b";
/** Chrome reports every 4xx fetch on the console; the refused key's 401 is the one this test expects. */
const REFUSED = /console\.error: Failed to load resource: the server responded with a status of 401/;

let browser: TestBrowser;
let server: TestServer;
let open: TestServer;

function env(extra: Record<string, string> = {}) {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir("ocs-dash-auth-home-"), HOST: "127.0.0.1", PORT: "0", WORK_DIR: tempDir("ocs-dash-auth-work-"), LOG_LEVEL: "info", OPENCODE_MODEL: "fake/model", ...extra };
}

beforeAll(async () => {
  server = await startTestServer(env({ API_KEY }), { runner: new FakeRunner(), opencodeVersion: "9.9.9" });
  open = await startTestServer(env(), { runner: new FakeRunner(), opencodeVersion: "9.9.9" });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await open?.stop();
});

describe("the dashboard's key", () => {
  test("asked for before anything is read; a wrong key is refused; the right one lists runs, is kept in sessionStorage only, and goes in a header", async () => {
    const { page, problems } = await watchedPage(browser);
    const sent: { url: string; authorization: string | undefined }[] = [];
    page.on("request", (req) => sent.push({ url: req.url(), authorization: req.headers().authorization }));
    await page.goto(`${server.url}/ui`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=key-form]");
    // Nothing but the page, its files and the public /health was asked for without a key.
    expect(sent.filter((r) => new URL(r.url).pathname.startsWith("/runs"))).toEqual([]);

    await typeInto(page, "[data-testid=key-input]", "not-the-key");
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=key-error]");
    expect(await page.$eval("[data-testid=key-error]", (el) => el.textContent)).toContain("That key was refused");

    await typeInto(page, "[data-testid=key-input]", API_KEY);
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=run-list], [data-testid=empty-list]");
    const runCalls = sent.filter((r) => new URL(r.url).pathname === "/runs");
    expect(runCalls.at(-1)?.authorization).toBe(`Bearer ${API_KEY}`);
    expect(sent.every((r) => !r.url.includes(API_KEY))).toBe(true);
    const stored = await page.evaluate(() => ({ session: Object.fromEntries(Object.entries(sessionStorage)), local: Object.fromEntries(Object.entries(localStorage)), cookie: document.cookie, url: location.href }));
    expect(stored).toEqual({ session: { "opencode-server.key": API_KEY }, local: {}, cookie: "", url: `${server.url}/ui` });
    // Nor did the key reach the server's log (a request line logs the path only).
    expect(server.logs.some((l) => l.includes(API_KEY))).toBe(false);

    // A reload keeps the key for this tab; "Forget key" drops it and asks again.
    await page.reload({ waitUntil: "load" });
    await page.waitForSelector("[data-testid=run-list], [data-testid=empty-list]");
    await clickOn(page, "[data-testid=forget-key]");
    await page.waitForSelector("[data-testid=key-form]");
    expect(await page.evaluate(() => sessionStorage.getItem("opencode-server.key"))).toBeNull();
    expect(problems.filter((p) => !REFUSED.test(p))).toEqual([]);
    await page.close();
  });

  test("a key that stops working mid-session (the server's key changed) brings the prompt back, saying it was refused", async () => {
    const { page, problems } = await watchedPage(browser);
    // In the tab's storage before the page's own code runs, as a key entered earlier would be.
    await page.evaluateOnNewDocument(() => sessionStorage.setItem("opencode-server.key", "an-old-key-no-longer-valid"));
    await page.goto(`${server.url}/ui`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=key-error]");
    expect(await page.evaluate(() => sessionStorage.getItem("opencode-server.key"))).toBeNull();
    expect(problems.filter((p) => !REFUSED.test(p))).toEqual([]);
    await page.close();
  });

  test("API_KEY unset: no prompt at all, the list loads", async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${open.url}/ui`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=run-list], [data-testid=empty-list]");
    expect(await page.$("[data-testid=key-form]")).toBeNull();
    expect(await page.$("[data-testid=forget-key]")).toBeNull();
    expect(problems).toEqual([]);
    await page.close();
  });
});

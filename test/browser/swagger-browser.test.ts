// Swagger UI in a real headless Chromium, under the pages' strict CSP: both /swagger and /swagger/ load the spec, and "Try it out" on POST /run answers 200.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "puppeteer-core";
import type { AgentInput, AgentOutcome } from "../../src/opencode/types.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { tempDir } from "../support/temp.ts";
import { launchBrowser, watchedPage, type TestBrowser } from "./browser.ts";

const API_KEY = "swagger-browser-key-0123456789";
const MODEL = "fake/only-model";

/** Like opencode on a server that knows one model: any other model named in the request fails the run (a 500). */
function modelOnly(input: AgentInput): Partial<AgentOutcome> {
  if (input.model !== MODEL) return { exitCode: 1, error: `ProviderModelNotFoundError: Model not found: ${input.model}` };
  return { output: "fake output from the browser test" };
}

let server: TestServer;
let browser: TestBrowser;

beforeAll(async () => {
  const home = tempDir("ocs-swagger-home-");
  server = await startTestServer(
    { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, HOST: "127.0.0.1", PORT: "0", API_KEY, WORK_DIR: tempDir("ocs-swagger-work-"), LOG_LEVEL: "error", OPENCODE_MODEL: MODEL },
    { runner: new FakeRunner(modelOnly), opencodeVersion: "9.9.9" },
  );
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens `docsPath`, collecting console errors, CSP violations and every URL the page fetched. */
async function open(docsPath: string): Promise<{ page: Page; errors: string[]; fetched: string[] }> {
  const { page, problems, responses } = await watchedPage(browser);
  await page.goto(`${server.url}${docsPath}`, { waitUntil: "load" });
  // Either the operations render or Swagger UI shows its error box; wait for whichever comes first.
  await page.waitForSelector(".opblock, .errors-wrapper", { timeout: 8_000 });
  return { page, errors: problems, fetched: responses };
}

describe("Swagger UI in Chromium", () => {
  for (const docsPath of ["/swagger", "/swagger/"]) {
    test(`${docsPath} loads /swagger/json and renders every operation`, async () => {
      const { page, errors, fetched } = await open(docsPath);
      const text = await page.$eval("body", (b) => b.innerText);
      expect(text).not.toContain("Failed to load API definition");
      expect(fetched).toContain("200 /swagger/json");
      const operations = await page.$$eval(".opblock-summary-path", (els) => els.map((e) => e.getAttribute("data-path")));
      expect(operations).toContain("/run");
      expect(operations).toContain("/runs/{id}/events");
      expect(errors).toEqual([]);
      await page.close();
    });
  }

  test("Authorize, then Try it out → Execute on POST /run with the example as given answers 200", async () => {
    const { page, errors } = await open("/swagger/");
    await page.click(".auth-wrapper .authorize");
    // The first scheme is bearer: one input, its own Authorize button.
    const bearer = await page.waitForSelector(".modal-ux .auth-container input");
    await bearer?.type(API_KEY);
    await page.click(".modal-ux .auth-container .auth-btn-wrapper .authorize");
    await page.click(".modal-ux .btn-done");
    await page.waitForSelector(".modal-ux", { hidden: true });

    const run = '.opblock-post:has(.opblock-summary-path[data-path="/run"])';
    await page.click(`${run} .opblock-summary`);
    await (await page.waitForSelector(`${run} .try-out__btn`))?.click();
    await page.waitForSelector(`${run} textarea.body-param__text`);
    const sent = await page.$eval(`${run} textarea.body-param__text`, (t) => t.value);
    expect(JSON.parse(sent)).toEqual({ prompt: "Write a function to calculate fibonacci numbers" });
    await page.click(`${run} .execute`);
    await page.waitForSelector(`${run} .live-responses-table .response .response-col_status`, { timeout: 8_000 });
    const status = await page.$eval(`${run} .live-responses-table .response .response-col_status`, (el) => el.textContent?.trim());
    const body = await page.$eval(`${run} .live-responses-table .response-col_description pre`, (el) => el.textContent ?? "");
    expect({ status, body: JSON.parse(body) as unknown }).toMatchObject({ status: "200", body: { success: true, output: "fake output from the browser test" } });
    expect(errors).toEqual([]);
    await page.close();
  });
});

// The dashboard with named keys in a real Chromium: each key's list shows only its own runs, with their owner; a runs:read-all key sees both.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { launchBrowser, watchedPage, type TestBrowser } from "./browser.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { keysToml, type TestKey } from "../support/keys.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const ALICE: TestKey = { name: "alice", key: "ocs_dash-alice-0123456789abcdef01234", scopes: ["runs:create", "runs:read"] };
const BOB: TestKey = { name: "bob", key: "ocs_dash-bob-0123456789abcdef0123456", scopes: ["runs:create", "runs:read"] };
const AUDITOR: TestKey = { name: "auditor", key: "ocs_dash-auditor-0123456789abcdef012", scopes: ["runs:read-all"] };

let browser: TestBrowser;
let server: TestServer;
const runOf: Record<string, string> = {};

beforeAll(async () => {
  const dir = tempDir("ocs-dash-keys-");
  const file = path.join(dir, "keys.toml");
  writeFileSync(file, keysToml([ALICE, BOB, AUDITOR]));
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, HOST: "127.0.0.1", PORT: "0", WORK_DIR: tempDir("ocs-dash-keys-work-"), LOG_LEVEL: "info", OPENCODE_MODEL: "fake/model", API_KEYS_FILE: file };
  server = await startTestServer(env, { runner: new FakeRunner(), opencodeVersion: "9.9.9" });
  for (const k of [ALICE, BOB]) {
    const res = await fetch(`${server.url}/runs`, { method: "POST", headers: { "content-type": "text/plain", authorization: `Bearer ${k.key}` }, body: `${k.name}'s run` });
    runOf[k.name] = String(((await res.json()) as { id: string }).id);
  }
  await waitFor(async () => {
    const res = await fetch(`${server.url}/runs?status=succeeded`, { headers: { authorization: `Bearer ${AUDITOR.key}` } });
    return ((await res.json()) as { runs: unknown[] }).runs.length === 2;
  }, { what: "both runs to finish" });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** The list as `key` sees it: each row's run id and the owner it shows. */
async function listedBy(key: TestKey): Promise<{ id: string | null; owner: string | null }[]> {
  const { page, problems } = await watchedPage(browser);
  await page.evaluateOnNewDocument((k: string) => sessionStorage.setItem("opencode-server.key", k), key.key);
  await page.goto(`${server.url}/ui`, { waitUntil: "load" });
  await page.waitForSelector("[data-testid=run-row]");
  const rows = await page.$$eval("[data-testid=run-row]", (els) => els.map((el) => ({ id: el.getAttribute("data-run-id"), owner: el.querySelector("[data-testid=run-owner]")?.textContent ?? null })));
  expect(problems).toEqual([]);
  await page.close();
  return rows;
}

describe("the dashboard with named keys", () => {
  test("alice and bob each see only their own run, marked with its owner; the auditor sees both", async () => {
    expect(await listedBy(ALICE)).toEqual([{ id: runOf.alice as string, owner: "by alice" }]);
    expect(await listedBy(BOB)).toEqual([{ id: runOf.bob as string, owner: "by bob" }]);
    expect(await listedBy(AUDITOR)).toEqual([
      { id: runOf.bob as string, owner: "by bob" },
      { id: runOf.alice as string, owner: "by alice" },
    ]);
  });

  test("a run page shows its owner", async () => {
    const { page, problems } = await watchedPage(browser);
    await page.evaluateOnNewDocument((k: string) => sessionStorage.setItem("opencode-server.key", k), AUDITOR.key);
    await page.goto(`${server.url}/ui/runs/${runOf.alice}`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=run-owner]");
    expect(await page.$eval("[data-testid=run-owner]", (el) => el.textContent)).toBe("alice");
    expect(problems).toEqual([]);
    await page.close();
  });
});

// The run page across a server restart (kill -9, then a new process on the same port and store): it reconnects with Last-Event-ID and shows each event once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { launchBrowser, renderedSeqs, watchedPage, type TestBrowser } from "./browser.ts";
import { agentServerEnv } from "../support/fake-opencode.ts";
import { readJson } from "../support/http.ts";
import { SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { readEvents } from "../support/sse.ts";

/**
 * The stream the kill cut (its chunked body never ended), then the reconnects refused while the server is
 * down: Chrome reports each on the console. Nothing else may appear.
 */
const DOWN = /^(request failed: \S+\/runs\/\S+\/events |console\.error: Failed to load resource: )net::(ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_CONNECTION_REFUSED)\b/;

let browser: TestBrowser;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.stop("SIGKILL");
});

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

test("a stream cut by a server restart resumes where it stopped: no event lost, none shown twice", async () => {
  const env = agentServerEnv({ PORT: String(freePort()), LOG_LEVEL: "info" });
  const first = await spawnServer(SOURCE_CMD, env);
  servers.push(first);
  const created = await readJson(await fetch(`${first.url}/runs`, { method: "POST", body: "hang 300" }));
  const id = String(created.id);

  const { page, problems } = await watchedPage(browser);
  await page.goto(`${first.url}/ui/runs/${id}`, { waitUntil: "load" });
  // queued, running, the agent's "working": the page has followed the stream this far.
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=events] .event[data-seq]").length >= 3 && document.body.textContent?.includes("working"), { timeout: 30_000 });
  const before = await renderedSeqs(page);

  first.proc.kill("SIGKILL");
  await first.proc.exited;
  await page.waitForSelector("[data-testid=reconnecting]", { timeout: 10_000 });

  const second = await spawnServer(SOURCE_CMD, env);
  servers.push(second);
  // The new process finds the run it never finished: interrupted, and the page learns it from the resumed stream.
  await page.waitForSelector('[data-testid=run-page][data-status="interrupted"]', { timeout: 30_000 });
  await page.waitForSelector("[data-testid=result]");
  // The result panel can come from GET /runs/{id} a moment before the stream's last events are drawn.
  await page.waitForSelector('[data-testid=events] .event[data-type="result"]');
  expect(await page.$("[data-testid=reconnecting]")).toBeNull();
  const after = await renderedSeqs(page);
  const stored = (await readEvents(await fetch(`${second.url}/runs/${id}/events`))).map((e) => Number(e.id));
  expect(after.slice(0, before.length)).toEqual(before);
  expect(after).toEqual(stored);
  expect(problems.filter((p) => !DOWN.test(p))).toEqual([]);
  await page.close();
  expect(await second.stop()).toBe(0);
});

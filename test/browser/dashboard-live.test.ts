// The dashboard in a real Chromium, live: a run started from the form streams its events as they happen, cancel, the list updating, agent HTML as text.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { emptyUsage, type AgentEvent, type AgentInput } from "../../src/opencode/types.ts";
import { clickOn, launchBrowser, renderedSeqs, screenshot, waitForText, typeInto, watchedPage, type TestBrowser } from "./browser.ts";
import { FakeRunner, hangAfter } from "../support/fake-runner.ts";
import { gate, type Gate } from "../support/gate.ts";
import { readJson } from "../support/http.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const HOSTILE = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><b>bold?</b>`;

let browser: TestBrowser;
let server: TestServer;
const runner = new FakeRunner();
/** Gates the scripted agent waits on, by prompt. */
const gates = new Map<string, Gate>();

const usage = (cost: number, tokens: number) => ({ ...emptyUsage(), input_tokens: tokens, output_tokens: tokens / 10, cost });

/** The agent as these tests script it: the prompt's first word says what it does. */
async function scripted(input: AgentInput) {
  const emit = (e: AgentEvent) => input.onEvent(e);
  const [verb] = input.prompt.split(/\s/);
  if (verb === "steps") {
    emit({ type: "text", text: "Step one: reading the code." });
    await gates.get(input.prompt)?.promise;
    emit({ type: "tool", tool: "bash", status: "completed", title: "run the tests", error: null, denied: false, input: { command: "bun test" }, output: "12 pass\n0 fail\n", duration_ms: 1234 });
    emit({ type: "usage", step: usage(0.0125, 1000), total: usage(0.0125, 1000), steps: 1, reason: "stop" });
    emit({ type: "text", text: "Step two: all tests pass." });
    return { output: "Step one: reading the code.\nStep two: all tests pass.", usage: usage(0.0125, 1000) };
  }
  if (verb === "hang") return hangAfter({ type: "text", text: "Working on it…" })(input);
  if (verb === "hostile") {
    emit({ type: "text", text: HOSTILE });
    emit({ type: "tool", tool: "bash", status: "completed", title: HOSTILE, error: null, denied: false, input: { command: HOSTILE }, output: HOSTILE, duration_ms: 5 });
    return { output: HOSTILE };
  }
  if (verb === "talk") {
    // What the real runner keeps for a follow-up: the session, in the directory the run worked in.
    const session = { sessionId: "ses_dash", directory: input.cwd, files: [{ name: "opencode.db", data: new Uint8Array([1]) }] };
    return { output: input.resume ? `continued: ${input.prompt}` : "first answer", sessionId: "ses_dash", session };
  }
  await gates.get(input.prompt)?.promise;
  return { output: `done: ${input.prompt}` };
}

beforeAll(async () => {
  runner.setBehaviour(scripted);
  const home = tempDir("ocs-dash-home-");
  server = await startTestServer(
    { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, HOST: "127.0.0.1", PORT: "0", WORK_DIR: tempDir("ocs-dash-work-"), DATA_DIR: tempDir("ocs-dash-data-"), LOG_LEVEL: "error", OPENCODE_MODEL: "fake/model" },
    { runner, opencodeVersion: "9.9.9" },
  );
  browser = await launchBrowser();
});

afterAll(async () => {
  for (const g of gates.values()) g.open();
  await browser?.close();
  await server?.stop();
});

function gated(prompt: string): Gate {
  const g = gate();
  gates.set(prompt, g);
  return g;
}

async function createRun(prompt: string): Promise<string> {
  const res = await fetch(`${server.url}/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt }) });
  return String((await readJson(res)).id);
}

const statusOf = async (id: string) => String((await readJson(await fetch(`${server.url}/runs/${id}`))).status);

describe("the dashboard, live", () => {
  test("a run started from the form: its events arrive as they happen, then the result — no reload", async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${server.url}/ui`, { waitUntil: "load" });
    const prompt = `steps ${crypto.randomUUID()}`;
    const release = gated(prompt);
    await typeInto(page, "[data-testid=prompt-input]", prompt);
    await typeInto(page, "[data-testid=model-input]", "fake/model");
    await clickOn(page, "[data-testid=start-run]");
    await page.waitForSelector("[data-testid=run-page]");
    // A marker on the window: were the page reloaded, it would be gone.
    await page.evaluate(() => ((window as unknown as { __marker: number }).__marker = 42));
    await waitForText(page, "[data-testid=events] .event", "Step one: reading the code.");
    const id = await page.$eval("[data-testid=run-page]", (el) => el.getAttribute("data-run-id") ?? "");
    expect(await statusOf(id)).toBe("running");
    // The agent is held at its first step: nothing of the second is on the page yet.
    expect(await page.$$("[data-testid=tool-card]")).toHaveLength(0);
    expect(await page.$eval("[data-testid=run-page]", (el) => el.getAttribute("data-status"))).toBe("running");
    await screenshot(page, "run-page-running");

    release.open();
    await waitForText(page, "[data-testid=result]", "Step two: all tests pass.");
    await page.waitForSelector('[data-testid=run-page][data-status="succeeded"]');
    await page.waitForSelector('[data-testid=events] .event[data-type="result"]');
    const card = await page.$eval("[data-testid=tool-card]", (el) => el.textContent ?? "");
    for (const part of ["bash", "run the tests", "completed", "1.2 s", "12 pass"]) expect(card).toContain(part);
    expect(await page.$eval("[data-testid=counter-cost]", (el) => el.textContent ?? "")).toContain("0.0125");
    expect(await page.$eval("[data-testid=counter-steps]", (el) => el.textContent ?? "")).toContain("1");
    expect(await page.evaluate(() => (window as unknown as { __marker?: number }).__marker)).toBe(42);
    // queued, running, text, text…: each event once, in order.
    const seqs = await renderedSeqs(page);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(page.url()).toBe(`${server.url}/ui/runs/${id}`);
    await screenshot(page, "run-page");
    expect(problems).toEqual([]);
    await page.close();
  });

  test("cancel a running run: the button stops it, the page says cancelled, the agent was aborted", async () => {
    const id = await createRun(`hang ${crypto.randomUUID()}`);
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${server.url}/ui/runs/${id}`, { waitUntil: "load" });
    await waitForText(page, "[data-testid=events] .event", "Working on it…");
    const call = runner.calls.find((c) => c.runId === id);
    await clickOn(page, "[data-testid=cancel-run]");
    await page.waitForSelector('[data-testid=run-page][data-status="cancelled"]');
    expect([await statusOf(id), call?.signal.aborted]).toEqual(["cancelled", true]);
    expect(await page.$("[data-testid=cancel-run]")).toBeNull();
    // Ended: the conversation can go on.
    await page.waitForSelector("[data-testid=follow-up-form]");
    expect(problems).toEqual([]);
    await page.close();
  });

  test("continue the conversation: the follow-up box starts a run that resumes the session, and the two pages link each other", async () => {
    const first = await createRun("talk to me");
    await waitFor(async () => (await statusOf(first)) === "succeeded", { what: "the first run" });
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${server.url}/ui/runs/${first}`, { waitUntil: "load" });
    await typeInto(page, "[data-testid=follow-up-input]", "talk some more");
    await clickOn(page, "[data-testid=send-follow-up]");
    await page.waitForFunction((id: string) => location.pathname.startsWith("/ui/runs/") && !location.pathname.endsWith(id), {}, first);
    await waitForText(page, "[data-testid=result-output]", "continued: talk some more");
    const second = await page.$eval("[data-testid=run-page]", (el) => el.getAttribute("data-run-id") ?? "");
    expect(runner.calls.find((c) => c.runId === second)?.resume?.sessionId).toBe("ses_dash");
    expect(await page.$$eval(`a[href="/ui/runs/${first}"]`, (els) => els.length)).toBeGreaterThan(0);
    await clickOn(page, `a[href="/ui/runs/${first}"]`);
    await page.waitForSelector(`[data-testid=run-page][data-run-id="${first}"]`);
    await page.waitForSelector(`a[href="/ui/runs/${second}"]`);
    expect(problems).toEqual([]);
    await page.close();
  });

  test("the list updates live: a new run appears, and shows succeeded when it finishes", async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${server.url}/ui`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=run-list], [data-testid=empty-list]");
    await page.evaluate(() => ((window as unknown as { __marker: number }).__marker = 7));
    const prompt = `wait ${crypto.randomUUID()}`;
    const release = gated(prompt);
    const id = await createRun(prompt);
    await page.waitForSelector(`[data-testid=run-row][data-run-id="${id}"][data-status="running"]`, { timeout: 10_000 });
    expect(await page.$eval(`[data-testid=run-row][data-run-id="${id}"] [data-testid=run-title]`, (el) => el.textContent)).toBe(prompt);
    release.open();
    await page.waitForSelector(`[data-testid=run-row][data-run-id="${id}"][data-status="succeeded"]`, { timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { __marker?: number }).__marker)).toBe(7);
    await screenshot(page, "run-list");
    expect(problems).toEqual([]);
    await page.close();
  });

  test("agent output that is HTML shows as text: nothing runs, nothing loads, no CSP violation", async () => {
    const id = await createRun("hostile output");
    await waitFor(async () => (await statusOf(id)) === "succeeded", { what: "the hostile run" });
    const { page, problems, responses } = await watchedPage(browser);
    await page.goto(`${server.url}/ui/runs/${id}`, { waitUntil: "load" });
    await page.waitForSelector("[data-testid=result-output]");
    // The result can show (from GET /runs/{id}) before the replayed events are drawn.
    await page.waitForSelector('[data-testid=events] .event[data-type="result"]');
    await page.$$eval("[data-testid=tool-card]", (cards) => cards.forEach((c) => ((c as HTMLDetailsElement).open = true)));
    expect(await page.$eval("[data-testid=result-output]", (el) => el.textContent)).toBe(HOSTILE);
    const shown = await page.$eval("[data-testid=events]", (el) => el.textContent ?? "");
    expect(shown).toContain(HOSTILE);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.$$eval("[data-testid=run-page] script, [data-testid=run-page] img, [data-testid=run-page] b", (els) => els.length)).toBe(0);
    expect(responses.filter((r) => r.endsWith("/x"))).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  test("the status filter: ?status=running lists running runs only (kept in the URL); All lists every run again", async () => {
    const { page, problems } = await watchedPage(browser);
    const prompt = `wait ${crypto.randomUUID()}`;
    const release = gated(prompt);
    const id = await createRun(prompt);
    await page.goto(`${server.url}/ui?status=running`, { waitUntil: "load" });
    await page.waitForSelector(`[data-testid=run-row][data-run-id="${id}"]`);
    const statuses = await page.$$eval("[data-testid=run-row]", (rows) => rows.map((r) => r.getAttribute("data-status")));
    expect(new Set(statuses)).toEqual(new Set(["running"]));
    await clickOn(page, '[data-testid=status-filter] [data-status="all"]');
    await page.waitForFunction(() => !location.search.includes("status="));
    release.open();
    await page.waitForSelector(`[data-testid=run-row][data-run-id="${id}"][data-status="succeeded"]`, { timeout: 10_000 });
    expect(problems).toEqual([]);
    await page.close();
  });
});

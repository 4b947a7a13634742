// Budgets with the real opencode CLI: each cap stops a looping agent at the step that crossed it, a thread's cap holds across its runs.
import { settledDir } from "../support/wait.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { fakeScript, startFakeLlm, type FakeLlm, type FakeStep } from "../support/fake-llm.ts";
import { readJson } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { AGENT_COMMANDS, processesRunning, zombieChildren } from "../support/procs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let llm: FakeLlm;
let s: TestServer;
let env: Record<string, string>;

beforeAll(async () => {
  llm = startFakeLlm();
  env = opencodeServerEnv(llm, { MAX_CONCURRENT_RUNS: "2", MAX_RUN_STEPS: "50" });
  s = await startTestServer(env);
});

afterAll(async () => {
  await s?.stop();
  await llm?.stop();
});

async function run(body: Record<string, unknown>) {
  const res = await fetch(`${s.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await readJson(res) };
}

/** An agent that would go on for 12 steps, each leaving a background sleep that only the cleanup can end. */
function loop(marker: string): string {
  const steps: FakeStep[] = Array.from({ length: 12 }, (_, i) => ({ bash: `(sleep 300.${marker}${i} > /dev/null 2>&1 &) ; echo step ${i}` }));
  return `Loop\n${fakeScript(...steps, { text: "finished the loop" })}`;
}

function leftovers(marker: string) {
  return processesRunning(`sleep 300.${marker}`);
}

const NONE = { max_cost_usd: null, max_tokens: null, max_steps: null };

test("max_steps: the agent that wants a third step is stopped after its second; 402 budget_exceeded; no process left", async () => {
  const marker = `${process.pid}1`;
  const { status, body } = await run({ prompt: loop(marker), max_steps: 2 });
  expect(status).toBe(402);
  expect(body).toMatchObject({
    success: false,
    code: "budget_exceeded",
    error: "Budget exceeded: the run's steps reached max_steps (2) and the agent wanted another; the run was stopped after step 2",
    exit_code: null,
    budget: {
      limits: { ...NONE, max_steps: 2 },
      used: { cost_usd: 0, tokens: 240, steps: 2 },
      // A first run's own caps are its conversation's too.
      thread: { limits: { ...NONE, max_steps: 2 }, used: { cost_usd: 0, tokens: 240, steps: 2 } },
      exceeded: { cap: "max_steps", scope: "run", limit: 2, used: 2 },
    },
  });
  expect((body.tools as unknown[]).length).toBe(2);
  expect(leftovers(marker)).toEqual([]);
  expect(zombieChildren(AGENT_COMMANDS)).toEqual([]);
  const view = await readJson(await fetch(`${s.url}/runs/${body.run_id}`));
  expect(view).toMatchObject({ status: "failed", code: "budget_exceeded" });
});

test("max_tokens: 120 tokens a step, a 250 cap: the third step crosses it and is the last", async () => {
  const marker = `${process.pid}2`;
  const { status, body } = await run({ prompt: loop(marker), max_tokens: 250 });
  expect(status).toBe(402);
  expect(body.budget).toEqual({
    limits: { ...NONE, max_tokens: 250, max_steps: 50 },
    used: { cost_usd: 0, tokens: 360, steps: 3 },
    // The server's ceiling (MAX_RUN_STEPS) is a per-run cap; only what the request asked for caps the thread.
    thread: { limits: { ...NONE, max_tokens: 250 }, used: { cost_usd: 0, tokens: 360, steps: 3 } },
    exceeded: { cap: "max_tokens", scope: "run", limit: 250, used: 360 },
  });
  expect(body.usage).toMatchObject({ input_tokens: 300, output_tokens: 60 });
  expect(leftovers(marker)).toEqual([]);
});

test("max_cost_usd: $0.002 a step, a $0.005 cap: stopped after the third step (the overshoot is that step)", async () => {
  const marker = `${process.pid}3`;
  const { status, body } = await run({ prompt: loop(marker), model: "fake/fake-priced", max_cost_usd: 0.005 });
  expect(status).toBe(402);
  const budget = body.budget as { used: { cost_usd: number; steps: number }; exceeded: { cap: string; used: number } };
  expect(budget.exceeded).toMatchObject({ cap: "max_cost_usd", scope: "run", limit: 0.005 });
  expect(budget.exceeded.used).toBeCloseTo(0.006, 9);
  expect(budget.used.steps).toBe(3);
  expect((body.usage as { cost: number }).cost).toBeCloseTo(0.006, 9);
  expect(leftovers(marker)).toEqual([]);
});

test("a thread's budget holds across its runs: the first run's max_cost_usd caps the conversation's sum", async () => {
  const root = await run({ prompt: `Start\n${fakeScript({ bash: "echo one" }, { text: "first done" })}`, model: "fake/fake-priced", max_cost_usd: 0.005 });
  expect(root.status).toBe(200);
  expect((root.body.budget as { thread: unknown }).thread).toMatchObject({ limits: { ...NONE, max_cost_usd: 0.005 }, used: { tokens: 240, steps: 2 } });
  // The follow-up asks for no cap of its own; its first step takes the thread to $0.006.
  const marker = `${process.pid}4`;
  const next = await run({ continue: root.body.run_id, prompt: loop(marker) });
  expect(next.status).toBe(402);
  expect(next.body).toMatchObject({ code: "budget_exceeded", parent_run_id: root.body.run_id, budget: { limits: { ...NONE, max_steps: 50 }, exceeded: { cap: "max_cost_usd", scope: "thread", limit: 0.005 } } });
  expect((next.body.budget as { used: { steps: number } }).used.steps).toBe(1);
  expect(leftovers(marker)).toEqual([]);
  // Nothing is left in the thread's budget: the next follow-up ends before any agent starts.
  const before = llm.requests.length;
  const last = await run({ continue: next.body.run_id, prompt: "one more" });
  expect(last.status).toBe(402);
  expect(last.body).toMatchObject({ code: "budget_exceeded", session_id: null, budget: { used: { cost_usd: 0, tokens: 0, steps: 0 }, exceeded: { cap: "max_cost_usd", scope: "thread" } } });
  expect(String(last.body.error)).toStartWith("Budget exceeded before the run started: the thread's cost reached $0.0060, over max_cost_usd ($0.005)");
  expect(llm.requests.length).toBe(before);
  expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  expect(metrics).toContain('opencode_server_runs_budget_exceeded_total{cap="max_cost_usd",scope="thread"} 2');
  expect(metrics).toContain('opencode_server_runs_budget_exceeded_total{cap="max_steps",scope="run"} 1');
});

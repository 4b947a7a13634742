// Warm agents (WARM_AGENTS=1) with the real opencode CLI under real bwrap, against the fake LLM: same answers as `opencode run`, cancel, refill, fallback, follow-up.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { fakeProviderConfig, opencodeServerEnv } from "../support/opencode-env.ts";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { readJson } from "../support/http.ts";
import { readEvents } from "../support/sse.ts";
import { processesMatching } from "../support/procs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

let llm: FakeLlm;
let s: TestServer;
let env: Record<string, string>;
const marker = `warm-${process.pid}`;

beforeAll(async () => {
  llm = startFakeLlm();
  const permission = { bash: { "*": "allow", "ask-me *": "ask" } };
  env = opencodeServerEnv(llm, { SANDBOX: "bwrap", WARM_AGENTS: "1", MAX_EXECUTION_TIME: "25s", MAX_CONCURRENT_RUNS: "2", OPENCODE_CONFIG_JSON: JSON.stringify({ ...fakeProviderConfig(llm), permission }) });
  s = await startTestServer(env);
});

afterAll(async () => {
  await s?.stop();
  await llm?.stop();
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(" ").at(-1)) : Number.NaN;
}

const ready = () => waitFor(async () => (await metric("opencode_server_warm_agents_ready")) === 1, { timeoutMs: 60_000, what: "a warm agent to be ready" });

async function post(path: string, body: Record<string, unknown>) {
  const res = await fetch(`${s.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await readJson(res) };
}

async function finished(id: string): Promise<Record<string, unknown>> {
  let view: Record<string, unknown> = {};
  await waitFor(async () => {
    view = await readJson(await fetch(`${s.url}/runs/${id}`));
    return view.finished_at !== null;
  }, { what: `run ${id} to finish`, timeoutMs: 90_000 });
  return view;
}

/** What may differ between two runs of the same prompt: ids and timings. */
function normalized(body: Record<string, unknown>) {
  const { run_id, request_id, session_id, execution_time, queue_time, ...rest } = body;
  return { ...rest, ids: [typeof run_id, typeof request_id, String(session_id).slice(0, 4), typeof execution_time, typeof queue_time] };
}

/** Processes of this test's WORK_DIR: every sandbox's command line names its workspace there. */
const workProcesses = () => processesMatching(env.WORK_DIR as string).filter((p) => p.state !== "Z");

/** WORK_DIR's entries but the server's spare workspaces (made ahead for cold runs, see README). */
function runDirs(dir: string): string[] {
  return readdirSync(dir).filter((e) => !e.startsWith("opencode-spare-"));
}

test("a warm run answers exactly like an `opencode run` of the same prompt; each leaves nothing behind", async () => {
  await ready();
  const prompt = `${marker} tools\n${fakeScript({ bash: "echo from-agent > f.txt && cat f.txt" }, { text: "Done: {{tool_output}}" })}`;
  // One agent is ready: of two runs claimed together one takes it, the other finds the pool refilling.
  const [a, b] = await Promise.all([post("/run", { prompt }), post("/run", { prompt })]);
  expect(a.status).toBe(200);
  expect(b.status).toBe(200);
  expect(normalized(a.body)).toEqual(normalized(b.body));
  expect(a.body).toMatchObject({ success: true, output: "Done: from-agent", exit_code: 0, tools: [{ tool: "bash", status: "completed", title: "echo from-agent > f.txt && cat f.txt", error: null, denied: false }] });
  expect(await metric('opencode_server_warm_agent_runs{mode="warm"}')).toBe(1);
  expect(await metric('opencode_server_warm_agent_runs{mode="cold"}')).toBe(1);
  // The pool refills: one agent, booted in a workspace of its own; the runs' workspaces are gone.
  await ready();
  await waitFor(() => runDirs(env.WORK_DIR as string).length === 1, { what: "the runs' workspaces to go" });
  expect(runDirs(env.WORK_DIR as string)).toEqual([expect.stringMatching(/^opencode-warm-/)]);
});

test("a warm run streams its events as they happen; cancelled mid-tool, every process and its workspace are gone", async () => {
  await ready();
  const sleeper = `sleep 307.${process.pid}`;
  const created = await post("/runs", { prompt: `${marker} cancel\n${fakeScript({ bash: "echo started" }, { bash: sleeper }, { text: "never" })}` });
  expect(created.status).toBe(202);
  const id = String(created.body.id);
  // The first tool's event arrives while the run still goes on (its second tool sleeps).
  const res = await fetch(`${s.url}/runs/${id}/events`, { headers: { accept: "text/event-stream" } });
  const seen = await readEvents(res, (e) => e.data.type === "tool");
  expect(seen.at(-1)?.data).toMatchObject({ type: "tool", tool: "bash", status: "completed", output: "started\n" });
  expect(seen.some((e) => e.data.type === "result")).toBe(false);
  await waitFor(() => processesMatching(sleeper).length > 0, { timeoutMs: 60_000, what: "the sleeping tool" });
  expect((await post(`/runs/${id}/cancel`, {})).status).toBe(200);
  const view = await finished(id);
  expect(view).toMatchObject({ status: "cancelled" });
  expect(processesMatching(sleeper)).toEqual([]);
  await waitFor(() => runDirs(env.WORK_DIR as string).every((e) => e.startsWith("opencode-warm-")), { what: "the run's workspace to go" });
});

test("a warm run past MAX_EXECUTION_TIME is stopped: 408 timeout, its model request abandoned, nothing left running", async () => {
  await ready();
  const { status, body } = await post("/run", { prompt: `${marker} stall\n${fakeScript({ stall: true })}` });
  expect(status).toBe(408);
  expect(body).toMatchObject({ success: false, code: "timeout", output: "", exit_code: null, tools: [] });
  await waitFor(() => runDirs(env.WORK_DIR as string).every((e) => e.startsWith("opencode-warm-")), { what: "the run's workspace to go" });
});

test("egress attempts reach the run that took the agent (its network was opened at boot): in the answer and as events", async () => {
  await ready();
  const created = await post("/runs", { prompt: `${marker} egress\n${fakeScript({ bash: "curl -s --max-time 3 http://169.254.169.254/ || echo refused" }, { text: "{{tool_output}}" })}` });
  const id = String(created.body.id);
  const view = await finished(id);
  expect(view).toMatchObject({ status: "succeeded" });
  const answer = (view.result ?? view) as Record<string, unknown>;
  expect(answer.egress).toEqual([{ host: "169.254.169.254", port: 80, allowed: false, count: 1, reason: expect.any(String) }]);
  const events = await readEvents(await fetch(`${s.url}/runs/${id}/events`, { headers: { accept: "text/event-stream" } }), (e) => e.data.type === "result");
  expect(events.filter((e) => e.data.type === "egress").map((e) => e.data)).toMatchObject([{ type: "egress", host: "169.254.169.254", port: 80, allowed: false }]);
});

test("a tool call that asks permission is rejected as `opencode run` rejects it: no hang, 403 permission_denied", async () => {
  await ready();
  const { status, body } = await post("/run", { prompt: `${marker} ask\n${fakeScript({ bash: "ask-me now" }, { text: "done" })}` });
  expect(status).toBe(403);
  expect(body).toMatchObject({
    success: false,
    code: "permission_denied",
    tools: [{ tool: "bash", status: "error", title: null, error: "The user rejected permission to use this specific tool call.", denied: true }],
    exit_code: 0,
  });
});

test("a follow-up of a warm run continues its session in the same directory; the second run never sees the first's files", async () => {
  await ready();
  const first = await post("/runs", { prompt: `${marker} remember pelican-9\n${fakeScript({ bash: "pwd > where.txt; cat where.txt" }, { text: "noted {{tool_output}}" })}` });
  const id = String(first.body.id);
  const one = await finished(id);
  expect(one).toMatchObject({ status: "succeeded" });
  const next = await post(`/runs/${id}/messages`, { prompt: `${marker} follow\n${fakeScript({ bash: "ls; pwd" }, { text: "saw {{tool_output}}" })}` });
  expect(next.status).toBe(202);
  const two = await finished(String(next.body.id));
  expect(two).toMatchObject({ status: "succeeded" });
  const chat = llm.requests.find((r) => JSON.stringify(r.body.messages?.at(-1)?.content ?? "").includes(`${marker} follow`))?.body.messages ?? [];
  // The model got the earlier turn, and the follow-up worked in the warm run's directory (a fresh, empty one).
  expect(JSON.stringify(chat)).toContain("remember pelican-9");
  const where = String((one.result as Record<string, unknown> | undefined)?.output ?? one.output ?? "");
  const dir = /noted (\S+)/.exec(where)?.[1] ?? "";
  expect(dir).toContain("/opencode-warm-");
  expect(String((two.result as Record<string, unknown> | undefined)?.output ?? two.output ?? "")).toBe(`saw ${dir}`);
});

test("a warm agent whose server dies is replaced; meanwhile runs use `opencode run`; shutdown leaves no process and no directory", async () => {
  await ready();
  const before = await metric('opencode_server_warm_agent_runs{mode="cold"}');
  const serve = workProcesses().filter((p) => p.cmdline.includes(" serve "));
  expect(serve.length).toBeGreaterThan(0);
  for (const p of serve) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch (err) {
      // Gone already: killing the sandbox's outer process took the rest of it along.
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  }
  await waitFor(() => s.logs.some((l) => l.includes("server process ended while it waited")), { what: "the pool to notice", timeoutMs: 30_000 });
  const { status, body } = await post("/run", { prompt: `${marker} fallback\n${fakeScript({ text: "cold ok" })}` });
  expect({ status, body }).toMatchObject({ status: 200 });
  expect(body).toMatchObject({ success: true, output: "cold ok" });
  expect(await metric('opencode_server_warm_agent_runs{mode="cold"}')).toBe(before + 1);
  await ready();
  await s.stop();
  expect(workProcesses()).toEqual([]);
  expect(readdirSync(env.WORK_DIR as string)).toEqual([]);
});

// The real opencode CLI through the server, against the fake LLM: success, provider errors, limits, and process cleanup.
import { shortRunId } from "../../src/runs/ids.ts";
import { readJson } from "../support/http.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { fakeProviderConfig, opencodeServerEnv } from "../support/opencode-env.ts";
import { AGENT_COMMANDS, processesRunning, zombieChildren } from "../support/procs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { waitFor, settledDir } from "../support/wait.ts";

const API_KEY = "canary-api-key-7f3a9c1e5b";
const GITHUB_TOKEN = "canary-github-token-4d2e8b";
const AUTH_TOKEN = "canary-opencode-token-9a1c";
const CANARIES = [API_KEY, GITHUB_TOKEN, AUTH_TOKEN];
const auth = { authorization: `Bearer ${API_KEY}` };
// Unique per test process, so a leftover of an earlier run can never be mistaken for ours.
const sleepCmd = (n: number) => `sleep ${n}.${process.pid}`;

let llm: FakeLlm;
let s: TestServer;
let env: Record<string, string>;

beforeAll(async () => {
  llm = startFakeLlm();
  // Two command shapes opencode's permissions refuse: an `ask` (which `opencode run` auto-rejects) and a `deny` rule.
  const permission = { bash: { "*": "allow", "ask-me *": "ask", "deny-me *": "deny" } };
  env = opencodeServerEnv(llm, { API_KEY, GITHUB_TOKEN, OPENCODE_AUTH_TOKEN: AUTH_TOKEN, OPENCODE_CONFIG_JSON: JSON.stringify({ ...fakeProviderConfig(llm), permission }) });
  s = await startTestServer(env);
});

afterAll(async () => {
  await s?.stop();
  await llm?.stop();
});

async function run(prompt: string, init: RequestInit = {}) {
  const res = await fetch(`${s.url}/run`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify({ prompt }),
    ...init,
  });
  return { res, body: await readJson(res) };
}

function toolOutputsSeenByLlm(): string[] {
  return llm.requests.flatMap((r) => (r.body.messages ?? []).filter((m) => m.role === "tool").map((m) => String(m.content)));
}

describe("a real opencode run", () => {
  test("a bash tool call writes a file; the answer carries output, usage, tools and session", async () => {
    const prompt = `Create hello.txt\n${fakeScript(
      { bash: "echo hello-from-agent > hello.txt && cat hello.txt && pwd && env | sort" },
      { text: "Done. Tool said:\n{{tool_output}}" },
    )}`;
    const { res, body } = await run(prompt);
    expect(res.status).toBe(200);
    expect(body).toEqual({
      success: true,
      output: expect.stringContaining("Done. Tool said:\nhello-from-agent\n"),
      error: null,
      execution_time: expect.stringMatching(/^\d+(\.\d+)?s$/),
      queue_time: expect.stringMatching(/^\d+(\.\d+)?(µs|ms|s)$/),
      request_id: res.headers.get("x-request-id"),
      run_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      session_id: expect.stringMatching(/^ses_/),
      model: "fake/fake-model",
      usage: { input_tokens: 200, output_tokens: 40, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0 },
      tools: [{ tool: "bash", status: "completed", title: "echo hello-from-agent > hello.txt && cat hello.txt && pwd && env | sort", error: null, denied: false }],
      egress: [],
      output_truncated: false,
      exit_code: 0,
      // API_KEY's first key, by name (never the key).
      owner: "api-key-1",
    });
    // The agent worked in a private directory under WORK_DIR, with a private TMPDIR; both are gone now.
    const toolOutput = toolOutputsSeenByLlm().at(-1) ?? "";
    const runId = String(body.run_id);
    expect(toolOutput).toContain(`${env.WORK_DIR}/opencode-run-${shortRunId(runId)}-`);
    expect(toolOutput).toMatch(new RegExp(`^TMPDIR=${env.WORK_DIR}/opencode-run-${shortRunId(runId)}-[^/]+/agent$`, "m"));
    expect(toolOutput).toContain(`OPENCODE_SERVER_RUN_ID=${runId}`);
    expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
  });

  test("the agent's environment holds none of the server's secrets, and no answer or log line does either", async () => {
    // The marker finds this run's dump among every tool output the fake LLM has seen.
    const marker = `env-dump-${process.pid}-${Date.now()}`;
    const { res } = await run(`${fakeScript({ bash: `echo ${marker}; env` }, { text: "{{tool_output}}" })}`);
    expect(res.status).toBe(200);
    const envDump = toolOutputsSeenByLlm().find((o) => o.includes(marker)) ?? "";
    expect(envDump).toContain("PATH=");
    for (const name of ["API_KEY", "GITHUB_TOKEN", "GIT_TOKEN", "OPENCODE_AUTH_TOKEN", "OPENCODE_AUTH_JSON", "OPENCODE_CONFIG_JSON"]) {
      expect(envDump).not.toMatch(new RegExp(`^${name}=`, "m"));
    }
    for (const canary of CANARIES) {
      expect(envDump).not.toContain(canary);
      expect(s.logs.join("\n")).not.toContain(canary);
    }
  });

  test("a provider answering 401 → 500 agent_failed carrying the provider's message, quickly", async () => {
    const { res, body } = await run(`hi\n${fakeScript({ status: 401, message: "Incorrect API key provided" })}`);
    expect(res.status).toBe(500);
    expect(body).toMatchObject({
      success: false,
      code: "agent_failed",
      error: "opencode failed: APIError: Incorrect API key provided (HTTP 401)",
      output: "",
      exit_code: 1,
    });
  });

  test("an unknown model → 400 naming the field and the near matches from `opencode models`; no agent runs", async () => {
    const before = llm.requests.length;
    const res = await fetch(`${s.url}/run`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({ prompt: "hi", model: "fake/no-such-model" }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: "invalid_request",
      field: "model",
      error: expect.stringMatching(/^Invalid field "model": "fake\/no-such-model" is not a model opencode can use here; near matches: fake\/fake-model, /),
    });
    expect(llm.requests.length).toBe(before);
  });

  test("every tool call refused by a permission (ask, auto-rejected) → 403 permission_denied; each tool says why", async () => {
    const { res, body } = await run(fakeScript({ bash: "ask-me now" }, { text: "done" }));
    expect(res.status).toBe(403);
    expect(body).toMatchObject({
      success: false,
      code: "permission_denied",
      error: "opencode's permissions refused every tool call the agent made (1; first: bash): The user rejected permission to use this specific tool call.",
      tools: [{ tool: "bash", status: "error", title: null, error: "The user rejected permission to use this specific tool call.", denied: true }],
      exit_code: 0,
    });
  });

  test("a call refused by a deny rule is flagged; a run that also did work succeeds", async () => {
    const { res, body } = await run(fakeScript({ bash: "deny-me now" }, { bash: "echo did-work" }, { text: "done" }));
    expect(res.status).toBe(200);
    const tools = body.tools as Record<string, unknown>[];
    expect(tools.map((t) => [t.tool, t.status, t.denied])).toEqual([
      ["bash", "error", true],
      ["bash", "completed", false],
    ]);
    expect(String(tools[0]?.error)).toStartWith("The user has specified a rule which prevents you from using this specific tool call.");
  });

  test("a 1 MB prompt reaches the model intact (it travels through stdin, not argv)", async () => {
    const marker = `end-of-big-prompt-${process.pid}`;
    const prompt = `${fakeScript({ text: "got it" })}\n${"0123456789abcdef".repeat(65_536)}\n${marker}`;
    expect(prompt.length).toBeGreaterThan(1024 * 1024);
    const { res, body } = await run(prompt);
    expect(res.status).toBe(200);
    expect(body.output).toBe("got it");
    const user = llm.requests.at(-1)?.body.messages?.find((m) => m.role === "user");
    const content = typeof user?.content === "string" ? user.content : JSON.stringify(user?.content);
    expect(content).toContain(prompt);
  });

  test("a `nohup … &` left by the agent does not outlive a normal run", async () => {
    const cmd = sleepCmd(319);
    const { res } = await run(fakeScript({ bash: `nohup ${cmd} >/dev/null 2>&1 & echo started` }, { text: "left a job running" }));
    expect(res.status).toBe(200);
    expect(processesRunning(cmd)).toEqual([]);
    expect(zombieChildren(AGENT_COMMANDS)).toEqual([]);
  });

  test("a client that disconnects mid-run takes the agent's whole process tree with it", async () => {
    const cmd = sleepCmd(317);
    const client = new AbortController();
    const pending = run(fakeScript({ bash: cmd, timeout: 600_000 }), { signal: client.signal }).catch((e: unknown) => e);
    await waitFor(() => processesRunning(cmd).length > 0, { what: "the agent's sleep", timeoutMs: 60_000 });
    client.abort();
    expect(await pending).toBeInstanceOf(Error);
    await waitFor(() => processesRunning(cmd).length === 0 && s.server.runs.inFlight === 0, { what: "cleanup after disconnect", timeoutMs: 15_000 });
    await waitFor(() => s.logs.some((l) => l.includes('"code":"client_closed"')), { what: "run finished log" });
    expect(zombieChildren(AGENT_COMMANDS)).toEqual([]);
    expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
  });
});

describe("limits", () => {
  let limited: TestServer;
  let limitedEnv: Record<string, string>;

  beforeAll(async () => {
    limitedEnv = opencodeServerEnv(llm, { MAX_EXECUTION_TIME: "15s", MAX_OUTPUT_SIZE: "100" });
    limited = await startTestServer(limitedEnv);
  });

  afterAll(async () => {
    await limited?.stop();
  });

  test("a hanging tool → 408 with the output so far; the tool's process is gone and reaped", async () => {
    const cmd = sleepCmd(313);
    const request = fetch(`${limited.url}/run`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: fakeScript({ say: "Starting the long job.", bash: cmd, timeout: 600_000 }),
    });
    // Prove the trap was set: the agent's tool really was running when the timeout fired.
    await waitFor(() => processesRunning(cmd).length > 0, { what: "the agent's sleep", timeoutMs: 14_000 });
    const res = await request;
    expect(res.status).toBe(408);
    expect(await res.json()).toMatchObject({
      success: false,
      code: "timeout",
      error: "Execution timeout: the run exceeded MAX_EXECUTION_TIME (15s)",
      output: "Starting the long job.",
      exit_code: null,
    });
    expect(processesRunning(cmd)).toEqual([]);
    expect(zombieChildren(AGENT_COMMANDS)).toEqual([]);
    expect(await settledDir(limitedEnv.WORK_DIR as string)).toEqual([]);
  });

  test("output over MAX_OUTPUT_SIZE is cut and flagged", async () => {
    const res = await fetch(`${limited.url}/run`, { method: "POST", headers: { "content-type": "text/plain" }, body: fakeScript({ text: "y".repeat(5000) }) });
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body.output).toBe("y".repeat(100));
    expect(body.output_truncated).toBe(true);
  });
});

// Warm agents under AGENT_NETWORK=open: opencode's server on a loopback port of the host, reachable only with its password.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { readJson } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { processesMatching } from "../support/procs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

let llm: FakeLlm;
let s: TestServer;
let env: Record<string, string>;

beforeAll(async () => {
  llm = startFakeLlm();
  env = opencodeServerEnv(llm, { SANDBOX: "bwrap", AGENT_NETWORK: "open", WARM_AGENTS: "1" });
  s = await startTestServer(env);
});

afterAll(async () => {
  await s?.stop();
  await llm?.stop();
});

async function ready(): Promise<void> {
  await waitFor(async () => (await (await fetch(`${s.url}/metrics`)).text()).includes("opencode_server_warm_agents_ready 1"), { timeoutMs: 60_000, what: "a warm agent" });
}

test("a warm agent's port refuses callers without its password; a run through it succeeds and the pool refills", async () => {
  await ready();
  const serve = processesMatching(env.WORK_DIR as string).find((p) => p.cmdline.includes(" serve ") && p.cmdline.includes("--port="));
  const port = Number(/--port=(\d+)/.exec(serve?.cmdline ?? "")?.[1]);
  expect(port).toBeGreaterThan(0);
  // Another local process (any user, any run's agent) gets nothing without the password.
  const stranger = await fetch(`http://127.0.0.1:${port}/session`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  expect(stranger.status).toBe(401);
  const res = await fetch(`${s.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: `open\n${fakeScript({ text: "open ok" })}` }) });
  expect(res.status).toBe(200);
  expect(await readJson(res)).toMatchObject({ success: true, output: "open ok", exit_code: 0 });
  expect((await (await fetch(`${s.url}/metrics`)).text())).toContain('opencode_server_warm_agent_runs{mode="warm"} 1');
  await ready();
  // The new agent's workspace (beside the spare workspaces made ahead for cold runs); the run's went.
  await waitFor(() => readdirSync(env.WORK_DIR as string).filter((e) => !e.startsWith("opencode-spare-")).length === 1, { what: "the run's workspace to go" });
});

// Runs as resources with the real opencode CLI: the lifecycle over SSE, and cancellation that leaves no process behind.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { readJson } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { AGENT_COMMANDS, processesRunning, zombieChildren } from "../support/procs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { readEvents } from "../support/sse.ts";
import { waitFor, settledDir } from "../support/wait.ts";

let llm: FakeLlm;
let s: TestServer;
let env: Record<string, string>;

beforeAll(async () => {
  llm = startFakeLlm();
  env = opencodeServerEnv(llm, { MAX_CONCURRENT_RUNS: "1" });
  s = await startTestServer(env);
});

afterAll(async () => {
  await s?.stop();
  await llm?.stop();
});

async function post(prompt: string) {
  const res = await fetch(`${s.url}/runs`, { method: "POST", headers: { "content-type": "text/plain" }, body: prompt });
  expect(res.status).toBe(202);
  return readJson(res);
}

test("POST /runs → follow the SSE stream to the result; GET /runs/:id has the same answer", async () => {
  const run = await post(`Say hi\n${fakeScript({ bash: "echo hi-from-tool" }, { text: "Tool said: {{tool_output}}" })}`);
  const events = await readEvents(await fetch(`${s.url}${(run.links as Record<string, string>).events}`));
  const kinds = events.map((e) => (e.data.type === "status" ? `status:${e.data.status}` : e.data.type));
  expect(kinds[0]).toBe("status:queued");
  expect(kinds[1]).toBe("status:running");
  expect(kinds.slice(-2)).toEqual(["status:succeeded", "result"]);
  expect(kinds).toContain("tool");
  expect(kinds).toContain("text");
  expect(kinds).toContain("usage");
  expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i + 1));
  const tool = events.find((e) => e.data.type === "tool")?.data;
  expect(tool).toMatchObject({ type: "tool", tool: "bash", status: "completed", output: "hi-from-tool\n" });
  // From opencode's own clock (state.time {start, end}): the real CLI reports it.
  const duration = tool?.type === "tool" ? tool.duration_ms : undefined;
  expect(typeof duration).toBe("number");
  expect(duration).toBeGreaterThanOrEqual(0);
  const result = events.at(-1)?.data;
  const view = await readJson(await fetch(`${s.url}/runs/${run.id}`));
  expect(view).toMatchObject({ status: "succeeded", code: null });
  expect(result).toMatchObject({ type: "result", status: "succeeded", answer: view.result as object });
  expect(view.result).toMatchObject({ success: true, output: "Tool said: hi-from-tool", exit_code: 0 });
});

test("cancelling a running run and a queued one: when the answer says cancelled, the agent's tree is gone", async () => {
  const cmd = `sleep 347.${process.pid}`;
  const running = await post(fakeScript({ say: "Starting.", bash: cmd, timeout: 600_000 }));
  const marker = `queued-run-${process.pid}`;
  const queued = await post(`${marker}\n${fakeScript({ text: "unreachable" })}`);
  expect(queued).toMatchObject({ status: "queued", queue_position: 1 });
  await waitFor(() => processesRunning(cmd).length > 0, { what: "the agent's sleep", timeoutMs: 60_000 });

  const dropped = await fetch(`${s.url}/runs/${queued.id}`, { method: "DELETE" });
  expect(await readJson(dropped)).toMatchObject({ status: "cancelled", started_at: null });

  const res = await fetch(`${s.url}/runs/${running.id}`, { method: "DELETE" });
  expect(res.status).toBe(200);
  const body = await readJson(res);
  expect(body).toMatchObject({ status: "cancelled", code: "cancelled" });
  expect(body.result).toMatchObject({ success: false, code: "cancelled", output: "Starting." });
  // Checked at once, not eventually: the answer promised it.
  expect(processesRunning(cmd)).toEqual([]);
  expect(zombieChildren(AGENT_COMMANDS)).toEqual([]);
  expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
  // The queued run never reached the model.
  expect(llm.requests.some((r) => JSON.stringify(r.body).includes(marker))).toBe(false);
});

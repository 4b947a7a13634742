// Follow-up runs with the real opencode CLI: a continued session (the model gets the earlier messages), threads in order, 409/410.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { fakeScript, startFakeLlm, type FakeLlm, type RecordedRequest } from "../support/fake-llm.ts";
import { readJson } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { AGENT_COMMANDS, processesRunning, zombieChildren } from "../support/procs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { waitFor, settledDir } from "../support/wait.ts";

let llm: FakeLlm;
let s: TestServer;
let env: Record<string, string>;

beforeAll(async () => {
  llm = startFakeLlm();
  env = opencodeServerEnv(llm, { MAX_CONCURRENT_RUNS: "2" });
  s = await startTestServer(env);
});

afterAll(async () => {
  await s?.stop();
  await llm?.stop();
});

async function post(path: string, body: Record<string, unknown>) {
  const res = await fetch(`${s.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await readJson(res) };
}

async function finished(id: string): Promise<Record<string, unknown>> {
  let view: Record<string, unknown> = {};
  await waitFor(
    async () => {
      view = await readJson(await fetch(`${s.url}/runs/${id}`));
      return view.finished_at !== null;
    },
    { what: `run ${id} to finish`, timeoutMs: 90_000 },
  );
  return view;
}

/** The chat the fake LLM received for the first turn of the prompt that contains `marker`. */
function requestWith(marker: string): RecordedRequest | undefined {
  return llm.requests.find((r) => JSON.stringify(r.body.messages?.at(-1)?.content ?? "").includes(marker));
}

const textOf = (content: unknown) => (typeof content === "string" ? content : JSON.stringify(content));

test("a follow-up continues the session: the model receives the earlier messages; the chain and the thread show it", async () => {
  const first = await post("/run", { prompt: `Remember the word pelican-31\n${fakeScript({ text: "I will remember pelican-31." })}` });
  expect(first.status).toBe(200);
  const a = String(first.body.run_id);
  const sessionId = String(first.body.session_id);
  const marker = `follow-up-${process.pid}`;
  const second = await post(`/runs/${a}/messages`, { prompt: `${marker}: which word?\n${fakeScript({ text: "The word was pelican-31." })}` });
  expect(second.status).toBe(202);
  const b = String(second.body.id);
  const view = await finished(b);
  expect(view).toMatchObject({ status: "succeeded", parent_run_id: a, thread_id: a, children: [] });
  expect(view.result).toMatchObject({ success: true, output: "The word was pelican-31.", session_id: sessionId, parent_run_id: a, thread_id: a });

  const chat = requestWith(marker)?.body.messages ?? [];
  expect(chat.filter((m) => m.role !== "system").map((m) => [m.role, textOf(m.content).split("\n")[0]])).toEqual([
    ["user", "Remember the word pelican-31"],
    ["assistant", "I will remember pelican-31."],
    ["user", `${marker}: which word?`],
  ]);

  // The synchronous door continues too, and the thread lists the conversation in order.
  const third = await post("/run", { continue: b, prompt: `third-${marker}\n${fakeScript({ text: "Third." })}` });
  expect(third.status).toBe(200);
  expect(third.body).toMatchObject({ success: true, parent_run_id: b, thread_id: a, session_id: sessionId });
  expect(requestWith(`third-${marker}`)?.body.messages?.filter((m) => m.role === "user").length).toBe(3);
  expect(await readJson(await fetch(`${s.url}/runs/${a}`))).toMatchObject({ parent_run_id: null, thread_id: a, children: [b] });
  const thread = await readJson(await fetch(`${s.url}/runs?thread=${a}`));
  expect((thread.runs as { id: string }[]).map((r) => r.id)).toEqual([a, b, String(third.body.run_id)]);
  expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
});

test("continuing a running run is 409, an unknown one 404; the server keeps serving", async () => {
  const cmd = `sleep 348.${process.pid}`;
  const running = await post("/runs", { prompt: fakeScript({ bash: cmd, timeout: 600_000 }) });
  const id = String(running.body.id);
  await waitFor(() => processesRunning(cmd).length > 0, { what: "the agent's sleep", timeoutMs: 60_000 });
  const busy = await post(`/runs/${id}/messages`, { prompt: "go on" });
  expect(busy).toEqual({
    status: 409,
    body: { success: false, code: "run_not_finished", error: `Run ${id} is still running: continue it once it has ended`, status: "running", request_id: expect.any(String) },
  });
  expect((await fetch(`${s.url}/runs/${id}`, { method: "DELETE" })).status).toBe(200);
  expect(processesRunning(cmd)).toEqual([]);

  const unknown = crypto.randomUUID();
  expect(await post(`/runs/${unknown}/messages`, { prompt: "go on" })).toEqual({
    status: 404,
    body: { success: false, code: "not_found", error: `No run ${unknown}`, request_id: expect.any(String) },
  });
  expect((await fetch(`${s.url}/health`)).status).toBe(200);
  expect(zombieChildren(AGENT_COMMANDS)).toEqual([]);
});

test("concurrent follow-ups of one run take turns: never two runs of a thread at once, listed in order", async () => {
  const root = await post("/run", { prompt: fakeScript({ text: "root" }) });
  const a = String(root.body.run_id);
  const replies = await Promise.all([0, 1, 2].map((i) => post(`/runs/${a}/messages`, { prompt: `fork ${i}\n${fakeScript({ bash: "sleep 0.5" }, { text: `fork ${i}` })}` })));
  const ids = replies.map((r) => String(r.body.id));
  const views = await Promise.all(ids.map(finished));
  for (const v of views) expect(v).toMatchObject({ status: "succeeded", parent_run_id: a });
  const spans = views.map((v) => [Date.parse(String(v.started_at)), Date.parse(String(v.finished_at))] as const).sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) expect(spans[i]?.[0]).toBeGreaterThanOrEqual(spans[i - 1]?.[1] as number);
  // Arrival order: created_at, then id (the posts were concurrent, so their replies come in any order).
  const arrival = [...views].sort((x, y) => String(x.created_at).localeCompare(String(y.created_at)) || String(x.id).localeCompare(String(y.id))).map((v) => String(v.id));
  const thread = await readJson(await fetch(`${s.url}/runs?thread=${a}`));
  expect((thread.runs as { id: string }[]).map((r) => r.id)).toEqual([a, ...arrival]);
  expect(await readJson(await fetch(`${s.url}/runs/${a}`))).toMatchObject({ children: arrival });
});

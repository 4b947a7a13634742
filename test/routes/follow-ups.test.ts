// Follow-ups and budgets through the real app with a fake runner: what a follow-up inherits and gets, refusals (400/404/409/410).
import { describe, expect, test } from "bun:test";
import { json, testApp, type TestApp } from "../support/app.ts";
import type { AgentInput } from "../../src/opencode/types.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { readJson } from "../support/http.ts";
import { waitFor } from "../support/wait.ts";

const FILES = [{ name: "opencode.db", data: new Uint8Array([1, 2, 3]) }];
/** What the real runner keeps: the session, in the directory the run worked in. */
const kept = (input: AgentInput) => ({ session: { sessionId: "ses_kept", directory: input.cwd, files: FILES } });

async function finished(t: TestApp, id: string) {
  let view: Record<string, unknown> = {};
  await waitFor(async () => (view = await readJson(await t.request(`/runs/${id}`))).finished_at !== null, { what: "the run to end", timeoutMs: 10_000 });
  return view;
}

async function runOnce(t: TestApp, body: Record<string, unknown>) {
  const res = await t.request("/run", json(body));
  return { status: res.status, body: await readJson(res) };
}

describe("follow-ups", () => {
  test("inherit model and agent (or override them), get the kept session, and show the chain", async () => {
    const runner = new FakeRunner((input) => ({ output: "ok", sessionId: "ses_kept", ...kept(input) }));
    const t = testApp({ runner });
    const a = await runOnce(t, { prompt: "first", model: "fake/one", agent: "plan" });
    expect(a.status).toBe(200);
    const res = await t.request(`/runs/${a.body.run_id}/messages`, { method: "POST", headers: { "content-type": "text/plain" }, body: "second" });
    expect(res.status).toBe(202);
    const b = await readJson(res);
    expect(b.links).toMatchObject({ messages: `/runs/${b.id}/messages` });
    expect(await finished(t, String(b.id))).toMatchObject({ status: "succeeded", model: "fake/one", agent: "plan", parent_run_id: a.body.run_id, thread_id: a.body.run_id });
    expect(runner.calls[1]).toMatchObject({ prompt: "second", model: "fake/one", agent: "plan", resume: { sessionId: "ses_kept", directory: runner.calls[0]?.cwd, files: FILES } });
    // Every run of a conversation works in the same directory: opencode keeps it in the session.
    expect(runner.calls[1]?.cwd).toBe(runner.calls[0]?.cwd as string);
    const c = await runOnce(t, { continue: b.id, prompt: "third", model: "fake/two", agent: "build" });
    expect(c.body).toMatchObject({ success: true, model: "fake/two", parent_run_id: b.id, thread_id: a.body.run_id });
    expect(runner.calls[2]).toMatchObject({ model: "fake/two", agent: "build" });
    await t.close();
  });

  test("410 session_gone: a run that ended before its agent had a session, or whose session was not kept", async () => {
    const runner = new FakeRunner(() => ({ output: "ok", sessionId: null }));
    const t = testApp({ runner });
    const none = await runOnce(t, { prompt: "no session" });
    expect(await runOnce(t, { continue: none.body.run_id, prompt: "go on" })).toEqual({
      status: 410,
      body: { success: false, code: "session_gone", error: `Run ${none.body.run_id} has no opencode session to continue: it ended (succeeded) before its agent started`, request_id: expect.any(String) },
    });
    runner.setBehaviour(() => ({ output: "ok", sessionId: "ses_unkept" }));
    const unkept = await runOnce(t, { prompt: "session not kept" });
    const res = await runOnce(t, { continue: unkept.body.run_id, prompt: "go on" });
    expect(res).toMatchObject({ status: 410, body: { code: "session_gone" } });
    expect(String(res.body.error)).toContain("is no longer kept");
    expect(runner.calls.length).toBe(2);
    // Kept by a replica with another WORK_DIR: opencode could not open it here, and the run says why.
    runner.setBehaviour(() => ({ output: "ok", sessionId: "ses_far", session: { sessionId: "ses_far", directory: "/elsewhere/agent/work", files: FILES } }));
    const far = await runOnce(t, { prompt: "kept elsewhere" });
    const res2 = await runOnce(t, { continue: far.body.run_id, prompt: "go on" });
    expect(res2).toMatchObject({ status: 410, body: { success: false, code: "session_gone", parent_run_id: far.body.run_id } });
    expect(String(res2.body.error)).toContain("give every replica the same WORK_DIR");
    expect(runner.calls.length).toBe(3);
    await t.close();
  });

  test("what a follow-up may not say: repository, branch, base (inherited), push on a run without repository", async () => {
    const t = testApp({ runner: new FakeRunner((input) => ({ output: "ok", ...kept(input) })) });
    const a = await runOnce(t, { prompt: "first" });
    for (const [field, value] of [["repository", "https://github.com/acme/app.git"], ["branch", "x"], ["base", "main"]] as const) {
      expect(await runOnce(t, { continue: a.body.run_id, prompt: "p", [field]: value })).toMatchObject({
        status: 400,
        body: { code: "invalid_request", field, error: `Invalid field "${field}": is inherited from the run being continued` },
      });
    }
    const messages = await t.request(`/runs/${a.body.run_id}/messages`, json({ prompt: "p", repository: "https://github.com/acme/app.git" }));
    expect(await readJson(messages)).toMatchObject({ code: "invalid_request", field: "repository" });
    expect(await runOnce(t, { continue: a.body.run_id, prompt: "p", push: false })).toMatchObject({
      status: 400,
      body: { code: "invalid_request", field: "push", error: `Invalid field "push": run ${a.body.run_id} worked on no repository` },
    });
    await t.close();
  });
});

test("KEEP_SESSIONS=false: no session is stored, and a follow-up is a 410 that says so", async () => {
  const t = testApp({ runner: new FakeRunner((input) => ({ output: "ok", sessionId: "ses_kept", ...kept(input) })), env: { KEEP_SESSIONS: "false" } });
  const a = await runOnce(t, { prompt: "first" });
  expect(await t.store.hasContinuation(String(a.body.run_id))).toBe(false);
  expect(await runOnce(t, { continue: a.body.run_id, prompt: "go on" })).toEqual({
    status: 410,
    body: { success: false, code: "session_gone", error: "This server keeps no session history (KEEP_SESSIONS=false): runs cannot be continued", request_id: expect.any(String) },
  });
  await t.close();
});

describe("budget fields", () => {
  const t = testApp({ env: { MAX_RUN_STEPS: "10", MAX_RUN_COST_USD: "1" } });

  test.each([
    ["max_cost_usd", -1],
    ["max_cost_usd", 0],
    ["max_cost_usd", "0.5"],
    ["max_cost_usd", 1.01],
    ["max_tokens", 1.5],
    ["max_tokens", 0],
    ["max_tokens", "100"],
    ["max_steps", -3],
    ["max_steps", 11],
    ["max_steps", true],
  ])("%s = %p is a 400 naming the field, on every door", async (field, value) => {
    for (const [path, body] of [["/run", { prompt: "p" }], ["/runs", { prompt: "p" }], [`/runs/${crypto.randomUUID()}/messages`, { prompt: "p" }]] as const) {
      const res = await t.request(path, json({ ...body, [field]: value }));
      expect(res.status).toBe(400);
      expect(await readJson(res)).toMatchObject({ code: "invalid_request", field });
    }
  });

  test("above the ceiling says which; at it, or below, is taken; unset is the ceiling", async () => {
    expect(await readJson(await t.request("/run", json({ prompt: "p", max_steps: 11 })))).toMatchObject({
      error: `Invalid field "max_steps": 11 is above this server's ceiling (MAX_RUN_STEPS=10)`,
    });
    const at = await runOnce(t, { prompt: "p", max_steps: 10, max_cost_usd: 0.25 });
    expect(at).toMatchObject({ status: 200, body: { budget: { limits: { max_cost_usd: 0.25, max_tokens: null, max_steps: 10 }, exceeded: null } } });
    const unset = await runOnce(t, { prompt: "p" });
    expect(unset.body.budget).toEqual({ limits: { max_cost_usd: 1, max_tokens: null, max_steps: 10 }, used: { cost_usd: 0, tokens: 0, steps: 0 }, thread: null, exceeded: null });
  });
});

// Keys as identities: two own-run keys cannot see, follow, cancel, continue or list each other's runs (404 everywhere), read-all sees both, scopes give 403s, reload and expiry.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { emptyUsage } from "../../src/opencode/types.ts";
import { json, testApp, text, type TestApp } from "../support/app.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { readJson, type JsonObject } from "../support/http.ts";
import { keysToml, type TestKey } from "../support/keys.ts";
import { readEvents } from "../support/sse.ts";
import { waitFor } from "../support/wait.ts";

const ALICE: TestKey = { name: "alice", key: "ocs_alice-0123456789abcdef0123456789", scopes: ["runs:create", "runs:read", "runs:cancel"] };
const BOB: TestKey = { name: "bob", key: "ocs_bob-0123456789abcdef0123456789abc", scopes: ["runs:create", "runs:read", "runs:cancel"] };
const AUDITOR: TestKey = { name: "auditor", key: "ocs_auditor-0123456789abcdef01234567", scopes: ["runs:read-all", "metrics"] };
const READER: TestKey = { name: "reader", key: "ocs_reader-0123456789abcdef012345678", scopes: ["runs:read"] };
const OPS: TestKey = { name: "ops", key: "ocs_ops-0123456789abcdef0123456789abc", scopes: ["admin"] };
const LAPSED: TestKey = { name: "lapsed", key: "ocs_lapsed-0123456789abcdef012345678", scopes: ["admin"], expires: "2020-01-01T00:00:00Z" };
const FRUGAL: TestKey = { name: "frugal", key: "ocs_frugal-0123456789abcdef012345678", scopes: ["runs:create", "runs:read"], max_run_steps: 3 };
const CREATOR: TestKey = { name: "creator", key: "ocs_creator-0123456789abcdef01234567", scopes: ["runs:create"] };
const ALL = [ALICE, BOB, AUDITOR, READER, OPS, LAPSED, FRUGAL, CREATOR];

const as = (k: TestKey, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${k.key}` } });

/** A fake agent: a prompt with "hang" runs until it is cancelled; any other answers at once, with a cost. */
function runner(): FakeRunner {
  return new FakeRunner((input) => {
    // A kept session, as the real runner keeps one: its runs can be continued.
    const session = { sessionId: "ses_kept", directory: input.cwd, files: [{ name: "opencode.db", data: new Uint8Array([1]) }] };
    if (!input.prompt.includes("hang")) return { output: `done: ${input.prompt}`, session, usage: { ...emptyUsage(), input_tokens: 10, output_tokens: 5, cost: 0.25 } };
    return new Promise((resolve) => {
      const done = () => resolve({ exitCode: null, aborted: true, output: "" });
      if (input.signal.aborted) done();
      else input.signal.addEventListener("abort", done, { once: true });
    });
  });
}

/** An error answer without what differs per request (its request id, and the run id in its message). */
function shape(body: JsonObject, id: string): JsonObject {
  const { request_id: _, ...rest } = body;
  return { ...rest, error: String(rest.error).replace(id, "<id>") };
}

async function start(t: TestApp, key: TestKey, prompt: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await t.request("/runs", as(key, text(prompt, headers)));
  expect(res.status).toBe(202);
  return String((await readJson(res)).id);
}

const finished = (t: TestApp, id: string) =>
  waitFor(async () => {
    const body = await readJson(await t.request(`/runs/${id}`, as(OPS)));
    return body.status !== "queued" && body.status !== "running" ? body : null;
  }, { what: `run ${id} to end` });

describe("two keys with own-run scopes", () => {
  const t = testApp({ keysFile: keysToml(ALL), runner: runner() });
  afterAll(() => t.close());

  test("neither sees, follows, cancels, continues or lists the other's run: 404 with the body of a run that does not exist", async () => {
    const mine = await start(t, ALICE, "hang: alice's work");
    const done = await start(t, ALICE, "alice's finished work");
    await finished(t, done);
    const ghost = "01a234bb-0032-7248-98d4-000000000000";
    const routes = (id: string): [string, RequestInit][] => [
      [`/runs/${id}`, {}],
      [`/runs/${id}/events`, {}],
      [`/runs/${id}/events`, { headers: { accept: "text/event-stream", "last-event-id": "1" } }],
      [`/runs/${id}/diff`, {}],
      [`/runs/${id}`, { method: "DELETE" }],
      [`/runs/${id}/cancel`, { method: "POST" }],
      [`/runs/${id}/messages`, text("and now?")],
    ];
    for (const id of [mine, done]) {
      for (const [p, init] of routes(id)) {
        const res = await t.request(p, as(BOB, init));
        const nobody = await t.request(p.replace(id, ghost), as(BOB, init));
        expect({ route: `${init.method ?? "GET"} ${p}`, status: res.status }).toEqual({ route: `${init.method ?? "GET"} ${p}`, status: 404 });
        expect(shape(await readJson(res), id)).toEqual(shape(await readJson(nobody), ghost));
      }
      // POST /run with "continue" is the same follow-up: as unknown as a run that does not exist.
      const sync = await t.request("/run", as(BOB, json({ prompt: "go on", continue: id })));
      expect(sync.status).toBe(404);
      expect(shape(await readJson(sync), id)).toEqual({ success: false, code: "not_found", error: "No run <id>" });
    }
    // Listings are filtered in the store's query: bob's list and alice's thread hold nothing of hers for him.
    expect(await readJson(await t.request("/runs", as(BOB)))).toEqual({ runs: [], next_cursor: null });
    expect(await readJson(await t.request(`/runs?thread=${done}`, as(BOB)))).toEqual({ runs: [], next_cursor: null });
    expect(await readJson(await t.request(`/runs?thread=${ghost}`, as(BOB)))).toEqual({ runs: [], next_cursor: null });
    const hers = (await readJson(await t.request("/runs", as(ALICE)))).runs as JsonObject[];
    expect(hers.map((r) => [r.id, r.owner])).toEqual([[done, "alice"], [mine, "alice"]]);
    // Bob's cancel attempts left alice's run running.
    expect((await readJson(await t.request(`/runs/${mine}`, as(ALICE)))).status).toBe("running");
    const cancelled = await t.request(`/runs/${mine}`, as(ALICE, { method: "DELETE" }));
    expect(cancelled.status).toBe(200);
    expect(await readJson(cancelled)).toMatchObject({ id: mine, status: "cancelled", owner: "alice" });
  });

  test("pages of a key's own list stay whole: the filter is in the query, not after it", async () => {
    const bobs = [await start(t, BOB, "bob one"), await start(t, BOB, "bob two"), await start(t, BOB, "bob three")];
    await start(t, ALICE, "alice in between");
    for (const id of bobs) await finished(t, id);
    const first = await readJson(await t.request("/runs?limit=2", as(BOB)));
    const second = await readJson(await t.request(`/runs?limit=2&cursor=${String(first.next_cursor)}`, as(BOB)));
    const ids = [...(first.runs as JsonObject[]), ...(second.runs as JsonObject[])].map((r) => r.id);
    expect(ids).toEqual([...bobs].reverse());
    expect(second.next_cursor).toBeNull();
  });

  test("runs:read-all sees both keys' runs; without runs:cancel-all it may not cancel them (403)", async () => {
    const a = await start(t, ALICE, "hang: watched by the auditor");
    const b = await start(t, BOB, "bob, watched");
    await finished(t, b);
    const listed = ((await readJson(await t.request("/runs?limit=100", as(AUDITOR)))).runs as JsonObject[]).map((r) => r.owner);
    expect(new Set(listed)).toEqual(new Set(["alice", "bob"]));
    expect(await readJson(await t.request(`/runs/${a}`, as(AUDITOR)))).toMatchObject({ id: a, owner: "alice", status: "running" });
    expect(await readJson(await t.request(`/runs/${b}`, as(AUDITOR)))).toMatchObject({ id: b, owner: "bob", status: "succeeded", result: { owner: "bob" } });
    const refused = await t.request(`/runs/${a}`, as(AUDITOR, { method: "DELETE" }));
    expect(refused.status).toBe(403);
    expect(shape(await readJson(refused), a)).toEqual({ success: false, code: "forbidden", error: 'The API key "auditor" lacks the scope runs:cancel' });
    // Streams too: the auditor follows alice's run, replay included.
    const stream = await t.request(`/runs/${b}/events`, as(AUDITOR, { headers: { accept: "text/event-stream", "last-event-id": "1" } }));
    expect(stream.status).toBe(200);
    const events = await readEvents(stream);
    expect(events.at(-1)?.data).toMatchObject({ type: "result", status: "succeeded", answer: { owner: "bob", run_id: b } });
    // An admin key cancels anyone's.
    expect((await t.request(`/runs/${a}`, as(OPS, { method: "DELETE" }))).status).toBe(200);
  });

  test("a follow-up by a read-all key belongs to the thread's owner", async () => {
    const first = await start(t, ALICE, "alice starts a thread");
    await finished(t, first);
    const res = await t.request(`/runs/${first}/messages`, as(OPS, text("ops goes on")));
    expect(res.status).toBe(202);
    const follow = String((await readJson(res)).id);
    expect(await finished(t, follow)).toMatchObject({ owner: "alice", parent_run_id: first, thread_id: first });
    const thread = ((await readJson(await t.request(`/runs?thread=${first}`, as(ALICE)))).runs as JsonObject[]).map((r) => r.id);
    expect(thread).toEqual([first, follow]);
  });

  test("a key without runs:create gets 403 on POST /run, POST /runs and POST /runs/{id}/messages; its list needs runs:read", async () => {
    const own = await start(t, ALICE, "something to continue");
    await finished(t, own);
    const before = t.runner.calls.length;
    const forbidden = { success: false, code: "forbidden", error: 'The API key "auditor" lacks the scope runs:create' };
    for (const [p, init] of [["/run", text("hello")], ["/runs", text("hello")], ["/run", { ...text("hello"), headers: { "content-type": "text/plain", accept: "text/event-stream" } }], [`/runs/${own}/messages`, text("go on")]] as const) {
      const res = await t.request(p, as(AUDITOR, init));
      expect({ p, status: res.status }).toEqual({ p, status: 403 });
      const { request_id: _, ...body } = await readJson(res);
      expect(body).toEqual(forbidden);
    }
    const reader = await t.request("/runs", as(READER, text("hello")));
    expect(reader.status).toBe(403);
    expect(t.runner.calls.length).toBe(before);
    const noList = await t.request("/runs", as(CREATOR));
    expect(noList.status).toBe(403);
    expect((await readJson(noList)).error).toBe('The API key "creator" lacks the scope runs:read');
  });

  test("an Idempotency-Key is the key's own: bob reusing alice's gets a run of his own", async () => {
    const headers = { "idempotency-key": "shared-retry-key-1" };
    const a = await start(t, ALICE, "same prompt", headers);
    const b = await start(t, BOB, "same prompt", headers);
    expect(b).not.toBe(a);
    const replay = await t.request("/runs", as(ALICE, text("same prompt", headers)));
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect((await readJson(replay)).id).toBe(a);
    expect((await readJson(await t.request(`/runs/${b}`, as(BOB)))).owner).toBe("bob");
  });

  test("POST /run answers with the owner", async () => {
    const res = await t.request("/run", as(BOB, text("sync for bob")));
    expect(res.status).toBe(200);
    expect(await readJson(res)).toMatchObject({ success: true, owner: "bob", output: "done: sync for bob" });
  });

  test("an expired key is refused with 401 key_expired", async () => {
    const res = await t.request("/runs", as(LAPSED));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
    const { request_id: _, ...body } = await readJson(res);
    expect(body).toEqual({ success: false, code: "key_expired", error: 'The API key "lapsed" has expired: ask for a new one' });
  });

  test("a key's budget ceiling is the lower of its own and the server's, and the 400 names which", async () => {
    const res = await t.request("/runs", as(FRUGAL, json({ prompt: "x", max_steps: 5 })));
    expect(res.status).toBe(400);
    const { request_id: _, ...body } = await readJson(res);
    expect(body).toEqual({ success: false, code: "invalid_request", field: "max_steps", error: 'Invalid field "max_steps": 5 is above this key\'s ceiling (max_run_steps=3 for "frugal" in API_KEYS_FILE)' });
    const id = await start(t, FRUGAL, "within the key's ceiling");
    const view = await finished(t, id);
    expect((view.result as JsonObject).budget).toMatchObject({ limits: { max_steps: 3, max_tokens: null, max_cost_usd: null } });
  });

  test("/metrics needs the metrics scope and counts runs and cost per key; logs name the key, never the key itself", async () => {
    const refused = await t.request("/metrics", as(ALICE));
    expect(refused.status).toBe(403);
    const res = await t.request("/metrics", as(AUDITOR));
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toMatch(/opencode_server_key_runs_total\{key="bob",status="succeeded"\} [1-9]/);
    expect(body).toMatch(/opencode_server_run_cost_usd_total\{key="bob"\} [0-9.]*[1-9]/);
    expect(body).toMatch(/opencode_server_key_tokens_total\{key="bob"\} [1-9]/);
    const lines = t.logs.map((l) => JSON.parse(l) as JsonObject);
    expect(lines.some((l) => l.msg === "request" && l.key === "bob")).toBe(true);
    expect(lines.some((l) => l.msg === "run finished" && l.key === "bob")).toBe(true);
    for (const k of ALL) expect(t.logs.join("\n")).not.toContain(k.key);
  });
});

describe("runs from before keys", () => {
  test("are owned by nobody: only runs:read-all sees them, an own-run key gets a 404", async () => {
    const before = testApp({ runner: runner() });
    const answer = await readJson(await before.request("/run", text("from the days without keys")));
    expect(answer).toMatchObject({ success: true });
    expect(answer.owner).toBeUndefined();
    const id = String(answer.run_id);
    expect((await readJson(await before.request(`/runs/${id}`))).owner).toBeNull();
    await before.close();
    const after = testApp({ dataDir: before.dataDir, keysFile: keysToml([ALICE, AUDITOR]), runner: runner() });
    try {
      expect((await after.request(`/runs/${id}`, as(ALICE))).status).toBe(404);
      expect(await readJson(await after.request("/runs", as(ALICE)))).toEqual({ runs: [], next_cursor: null });
      expect(await readJson(await after.request(`/runs/${id}`, as(AUDITOR)))).toMatchObject({ id, owner: null, status: "succeeded" });
      expect((await after.request("/runs")).status).toBe(401);
    } finally {
      await after.close();
    }
  });
});

describe("reloading the keys file", () => {
  test("adds and removes keys live while runs are in flight; a bad file keeps the keys in use", async () => {
    const t = testApp({ keysFile: keysToml([ALICE, OPS]), runner: runner() });
    try {
      const file = t.keysFilePath as string;
      const inFlight = await start(t, ALICE, "hang: across the reload");
      expect((await t.request("/runs", as(BOB))).status).toBe(401);
      // Bob in, alice out.
      writeFileSync(file, keysToml([BOB, OPS]));
      expect(t.reloadKeys()).toBe(true);
      expect(t.logs.map((l) => JSON.parse(l) as JsonObject).find((l) => l.msg === "keys reloaded")).toMatchObject({ keys: 2, added: ["bob"], removed: ["alice"] });
      expect((await t.request("/runs", as(BOB))).status).toBe(200);
      expect((await t.request(`/runs/${inFlight}`, as(ALICE))).status).toBe(401);
      expect((await readJson(await t.request(`/runs/${inFlight}`, as(OPS)))).status).toBe("running");
      // A plaintext key where the digest goes: refused, logged loudly, and the keys stay as they were.
      writeFileSync(file, `[[keys]]\nname = "bob"\nsha256 = "${BOB.key}"\nscopes = ["admin"]\n`);
      expect(t.reloadKeys()).toBe(false);
      const error = t.logs.map((l) => JSON.parse(l) as JsonObject).find((l) => l.msg === "keys file not reloaded: the keys in use stay");
      expect(error).toMatchObject({ level: "error", error: 'entry 1 ("bob"): "sha256" must be the key\'s SHA-256 digest as 64 hex digits (never the key itself; opencode-server keys new prints one)' });
      expect(t.logs.join("\n")).not.toContain(BOB.key);
      expect((await t.request("/runs", as(BOB))).status).toBe(200);
      // An emptied file locks everyone out rather than opening the server.
      writeFileSync(file, "keys = []\n");
      expect(t.reloadKeys()).toBe(true);
      expect((await t.request("/runs", as(BOB))).status).toBe(401);
      expect((await t.request("/runs")).status).toBe(401);
      // The run started before the reloads goes on: it is still running, and ends when the store says so.
      expect(t.runner.calls[0]?.signal.aborted).toBe(false);
      writeFileSync(file, keysToml([OPS]));
      expect(t.reloadKeys()).toBe(true);
      expect((await readJson(await t.request(`/runs/${inFlight}`, as(OPS)))).status).toBe("running");
      expect((await t.request(`/runs/${inFlight}`, as(OPS, { method: "DELETE" }))).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

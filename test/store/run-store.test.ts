// One contract for both run stores (SQLite and Postgres): queue order and locks, admission, endings, events, lists, recovery.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PIECE_CHARS } from "../../src/lib/json-pieces.ts";
import { newRunId } from "../../src/runs/ids.ts";
import type { RunEvent } from "../../src/runs/model.ts";
import { StoreError, type RunStore } from "../../src/runs/store.ts";
import { postgresFactory, sqliteFactory, type Harness } from "./factories.ts";
import { events, failure, maker, outcome, queuedEvents, record, request, succeeded } from "./fixtures.ts";

const LEASE = 60_000;
const started = maker([{ type: "status", status: "running" }]);
const ids = (n: number) => Array.from({ length: n }, () => newRunId());

describe.each([sqliteFactory(), postgresFactory()])("$name run store", (factory) => {
  beforeAll(() => factory.setup());
  afterAll(() => factory.teardown());

  let h: Harness;
  let store: RunStore;
  const fresh = async () => {
    h = await factory.fresh();
    store = h.store;
  };

  test("claims go in arrival order, skip busy branches, hand over the request and delete it", async () => {
    await fresh();
    const [a, b, c] = ids(3) as [string, string, string];
    expect(await store.enqueue(record(a, 1), request("prompt a"), "repo#main", queuedEvents(a), 10)).toEqual({ queued: true });
    expect(await store.enqueue(record(b, 2), request("prompt b"), "repo#main", queuedEvents(b), 10)).toEqual({ queued: true });
    expect(await store.enqueue(record(c, 3), request("prompt c"), null, queuedEvents(c), 10)).toEqual({ queued: true });
    expect([await store.queuedCount(), await store.queuePosition(a), await store.queuePosition(b), await store.queuePosition(c), await store.nextQueued()]).toEqual([3, 1, 2, 3, a]);

    // Another instance on the same data (a restarted process, or a replica) sees the same queue.
    const other = await h.open();
    const make = maker([{ type: "status", status: "running" }]);
    expect(await other.claim("r1", 10, 10 + LEASE, () => false, make)).toEqual({
      record: record(a, 1, { status: "running", startedAt: 10, replica: "r1" }),
      request: request("prompt a"),
      lock: "repo#main",
    });
    expect(make.calls).toEqual([[a, 1]]);
    expect(await other.events(a, 0)).toEqual([...queuedEvents(a), ...events(a, 1, [{ type: "status", status: "running" }])]);
    // b shares a's branch, which is busy: c goes first, then nothing can start.
    expect((await other.claim("r1", 11, 11 + LEASE, (lock) => lock === "repo#main", started))?.record.id).toBe(c);
    expect(await other.claim("r1", 12, 12 + LEASE, (lock) => lock === "repo#main", started)).toBeNull();
    await other.finish(a, succeeded(a, 13), []);
    expect(await other.claim("r1", 14, 14 + LEASE, () => false, started)).toEqual({
      record: record(b, 2, { status: "running", startedAt: 14, replica: "r1" }),
      request: request("prompt b"),
      lock: "repo#main",
    });
    expect([await other.queuedCount(), await other.queuePosition(b), await other.nextQueued()]).toEqual([0, null, null]);
    expect(await other.claim("r1", 15, 15 + LEASE, () => false, started)).toBeNull();
    // No prompt is left anywhere once the runs started.
    expect(await h.query("SELECT count(*) AS n FROM queue")).toEqual([{ n: factory.name === "postgres" ? "0" : 0 }]);
  });

  test("a full queue refuses a run and writes nothing; it says how many wait", async () => {
    await fresh();
    const [a, b, c] = ids(3) as [string, string, string];
    await store.enqueue(record(a, 1), request("a"), null, queuedEvents(a), 2);
    await store.enqueue(record(b, 2), request("b"), null, queuedEvents(b), 2);
    expect(await store.enqueue(record(c, 3), request("c"), null, queuedEvents(c), 2)).toEqual({ queued: false, reason: "full", waiting: 2 });
    expect([await store.get(c), await store.events(c, 0), await store.queuedCount()]).toEqual([null, [], 2]);
    // A started run leaves room.
    await store.claim("r1", 5, 5 + LEASE, () => false, started);
    expect(await store.enqueue(record(c, 3), request("c"), null, queuedEvents(c), 2)).toEqual({ queued: true });
  });

  test("an Idempotency-Key taken returns the earlier run and writes nothing, even when the queue is full", async () => {
    await fresh();
    const [a, b] = ids(2) as [string, string];
    await store.enqueue(record(a, 1, { idempotencyKey: "k1" }), request("a"), null, queuedEvents(a), 1);
    const again = await store.enqueue(record(b, 2, { idempotencyKey: "k1" }), request("b"), null, queuedEvents(b), 1);
    expect(again).toEqual({ queued: false, reason: "duplicate", earlier: record(a, 1, { idempotencyKey: "k1" }) });
    expect([await store.get(b), await store.events(b, 0), await store.queuedCount()]).toEqual([null, [], 1]);
    expect(await store.byIdempotencyKey("k1")).toEqual(record(a, 1, { idempotencyKey: "k1" }));
    expect(await store.byIdempotencyKey("k2")).toBeNull();
  });

  test("finishQueued ends a waiting run with its events, and does nothing once the run was claimed", async () => {
    await fresh();
    const [a, b] = ids(2) as [string, string];
    await store.enqueue(record(a, 1), request("a"), "repo#x", queuedEvents(a), 10);
    await store.enqueue(record(b, 2), request("b"), null, queuedEvents(b), 10);
    const end = failure(a, `req-${a}`, null, "cancelled while queued");
    const closing = maker([{ type: "status", status: "cancelled" }, { type: "result", status: "cancelled", answer: end }]);
    expect(await store.finishQueued(a, { status: "cancelled", code: "cancelled", error: "cancelled while queued", at: 7, outcome: end }, closing)).toBe(true);
    expect(closing.calls).toEqual([[a, 1]]);
    expect(await store.get(a)).toEqual(record(a, 1, { status: "cancelled", code: "cancelled", error: "cancelled while queued", finishedAt: 7, outcome: end }));
    expect(await store.events(a, 0)).toEqual([...queuedEvents(a), ...events(a, 1, [{ type: "status", status: "cancelled" }, { type: "result", status: "cancelled", answer: end }])]);
    expect([await store.queuedCount(), await store.queuePosition(a)]).toEqual([1, null]);

    expect((await store.claim("r1", 8, 8 + LEASE, () => false, started))?.record.id).toBe(b);
    expect(await store.finishQueued(b, { status: "cancelled", code: "cancelled", error: "x", at: 9, outcome: failure(b, `req-${b}`, null, "x") }, closing)).toBe(false);
    expect(await store.get(b)).toEqual(record(b, 2, { status: "running", startedAt: 8, replica: "r1" }));
    expect(await store.lastSeq(b)).toBe(2);
  });

  test("events round trip exactly; a result's answer is stored once, on the run; stored numbers are skipped", async () => {
    await fresh();
    const [id] = ids(1) as [string];
    await store.enqueue(record(id, 1000), request("p"), null, [], 10);
    expect([await store.lastSeq(id), await store.events(id, 0)]).toEqual([0, []]);
    const answer = outcome(id, "x".repeat(100_000) + " \u0000 é 😀 \"quoted\" \\ {}");
    const middle = events(id, 0, [
      { type: "text", text: "hello\nworld \u0000" },
      { type: "tool", tool: "bash", status: "completed", title: null, error: null, denied: false, input: { cmd: ["ls", "-la"], n: 1.5 }, output: "ok" },
    ]);
    await store.appendEvents(middle);
    // A retry after a lost answer, and a clash on a stored number: the first write stands.
    await store.appendEvents([...middle, ...events(id, 0, [{ type: "text", text: "other" }])]);
    const last = events(id, 2, [{ type: "status", status: "succeeded" }, { type: "result", status: "succeeded", answer }]);
    await store.finish(id, { status: "succeeded", code: null, error: null, at: 2000, outcome: answer }, last);
    expect(await store.events(id, 0)).toEqual([...middle, ...last] as RunEvent[]);
    expect(await store.events(id, 2)).toEqual(last);
    expect(await store.lastSeq(id)).toBe(4);
    expect(await store.get(id)).toEqual(record(id, 1000, { status: "succeeded", finishedAt: 2000, outcome: answer }));
    const [row] = await h.query(`SELECT length(data) AS n FROM events WHERE run_id = ${factory.name === "postgres" ? "$1" : "?"} AND type = 'result'`, id);
    expect(Number(row?.n)).toBeLessThan(100);
  });

  test("a long answer (a field of many pieces) round trips exactly: read, listed, in its result event, replaced by a second finish, pruned", async () => {
    await fresh();
    const [id, other] = ids(2) as [string, string];
    for (const r of [id, other]) await store.enqueue(record(r, 1000), request("p"), null, [], 10);
    // Pairs straddle every cut; a lone surrogate, controls and quotes must come back as they were.
    const output = `${"é😀\n\"\\\u0000 ".repeat(PIECE_CHARS / 2)}\ud800 end`;
    const answer = { ...outcome(id, output), patch: "+".repeat(PIECE_CHARS + 3), patch_truncated: false };
    const last = events(id, 0, [{ type: "result", status: "succeeded", answer }]);
    await store.finish(id, { status: "succeeded", code: null, error: null, at: 2000, outcome: answer }, last);
    await store.finish(other, succeeded(other, 2000), []);
    const done = record(id, 1000, { status: "succeeded", finishedAt: 2000, outcome: answer });
    expect(await store.get(id)).toEqual(done);
    expect(await store.events(id, 0)).toEqual(last);
    expect((await store.list({ limit: 10 })).find((r) => r.id === id)).toEqual(done);
    expect(await store.thread(id, 10)).toEqual([done]);
    // A finish written again (a retry after a lost answer): the second answer, shorter, is the one read.
    const again = outcome(id, "z".repeat(PIECE_CHARS * 3));
    await store.finish(id, { status: "succeeded", code: null, error: null, at: 3000, outcome: again }, []);
    expect(await store.get(id)).toEqual(record(id, 1000, { status: "succeeded", finishedAt: 3000, outcome: again }));
    expect(await store.get(other)).toEqual(record(other, 1000, { status: "succeeded", finishedAt: 2000, outcome: outcome(other) }));
    expect(await store.prune(5000)).toBe(2);
    expect(await store.get(id)).toBeNull();
  });

  test("lists newest first with keyset pages, filtered by status", async () => {
    await fresh();
    const all = ids(5).sort();
    // Two share a creation time: the id breaks the tie.
    const times = [1, 2, 2, 3, 4];
    for (const [i, id] of all.entries()) await store.enqueue(record(id, times[i] as number), request("p"), null, [], 10);
    await store.finish(all[0] as string, succeeded(all[0] as string, 9), []);
    const newestFirst = [all[4], all[3], all[2], all[1], all[0]] as string[];
    const page1 = await store.list({ limit: 2 });
    expect(page1.map((r) => r.id)).toEqual(newestFirst.slice(0, 2));
    const tail = page1.at(-1) as { createdAt: number; id: string };
    const page2 = await store.list({ limit: 2, before: { createdAt: tail.createdAt, id: tail.id } });
    expect(page2.map((r) => r.id)).toEqual(newestFirst.slice(2, 4));
    const p2tail = page2.at(-1) as { createdAt: number; id: string };
    expect((await store.list({ limit: 2, before: p2tail })).map((r) => r.id)).toEqual(newestFirst.slice(4));
    expect(await store.list({ limit: 10, statuses: ["succeeded"] })).toEqual([record(all[0] as string, 1, { status: "succeeded", finishedAt: 9, outcome: outcome(all[0] as string) })]);
    expect((await store.list({ limit: 10, statuses: ["queued", "running"] })).length).toBe(4);
    expect(await store.list({ limit: 10, statuses: [] })).toHaveLength(5);
  });

  test("owners: stored and read back; lists and threads filtered by owner in the query (keyset pages whole); a key's Idempotency-Key is its own", async () => {
    await fresh();
    const [a1, b1, a2, legacy, a3, follow] = ids(6) as [string, string, string, string, string, string];
    await store.enqueue(record(a1, 1, { owner: "alice" }), request("a1"), null, queuedEvents(a1), 10);
    await store.enqueue(record(b1, 2, { owner: "bob" }), request("b1"), null, queuedEvents(b1), 10);
    await store.enqueue(record(a2, 3, { owner: "alice" }), request("a2"), null, queuedEvents(a2), 10);
    await store.enqueue(record(legacy, 4), request("old"), null, queuedEvents(legacy), 10);
    await store.enqueue(record(a3, 5, { owner: "alice", idempotencyKey: "alice k" }), request("a3"), null, queuedEvents(a3), 10);
    await store.enqueue(record(follow, 6, { owner: "alice", parentId: a1, threadId: a1 }), request("f"), null, queuedEvents(follow), 10);
    expect(await store.get(b1)).toEqual(record(b1, 2, { owner: "bob" }));
    const page1 = await store.list({ limit: 2, owner: "alice" });
    expect(page1.map((r) => r.id)).toEqual([follow, a3]);
    const tail = page1[1] as { createdAt: number; id: string };
    expect((await store.list({ limit: 10, owner: "alice", before: { createdAt: tail.createdAt, id: tail.id } })).map((r) => r.id)).toEqual([a2, a1]);
    expect((await store.list({ limit: 10, owner: "bob" })).map((r) => r.id)).toEqual([b1]);
    expect((await store.list({ limit: 10 })).map((r) => r.owner)).toEqual(["alice", "alice", null, "alice", "bob", "alice"]);
    expect((await store.thread(a1, 10, undefined, "alice")).map((r) => r.id)).toEqual([a1, follow]);
    expect(await store.thread(a1, 10, undefined, "bob")).toEqual([]);
    // Idempotency-Keys are stored scoped by key name ("<name> <key>"): bob's "k" is not alice's.
    expect((await store.byIdempotencyKey("alice k"))?.id).toBe(a3);
    expect(await store.byIdempotencyKey("bob k")).toBeNull();
    const bobs = newRunId();
    expect(await store.enqueue(record(bobs, 7, { owner: "bob", idempotencyKey: "bob k" }), request("b"), null, queuedEvents(bobs), 10)).toEqual({ queued: true });
  });

  test("recovery: this replica's running runs are interrupted with their closing events; queued runs wait on", async () => {
    await fresh();
    const [a, b, q, done] = ids(4) as [string, string, string, string];
    for (const [i, id] of [a, b, done, q].entries()) await store.enqueue(record(id, i + 1, { model: id === b ? "m" : null }), request("p"), null, queuedEvents(id), 10);
    for (let i = 0; i < 3; i++) await store.claim("r1", 10 + i, 10 + i + LEASE, () => false, started);
    await store.finish(done, succeeded(done, 20), []);
    const f = { status: "interrupted" as const, code: "interrupted" as const, error: "the server stopped", at: 30 };
    const closing = (id: string, lastSeq: number) => events(id, lastSeq, [{ type: "status", status: "interrupted" }]);
    const restarted = await h.open();
    const recovered = await restarted.recoverRunning("r1", f, (id, requestId, model) => failure(id, requestId, model, "the server stopped"), closing);
    expect(recovered.sort()).toEqual([a, b].sort());
    expect(await restarted.get(b)).toEqual(
      record(b, 2, { model: "m", status: "interrupted", code: "interrupted", error: "the server stopped", startedAt: 11, finishedAt: 30, replica: "r1", outcome: failure(b, `req-${b}`, "m", "the server stopped") }),
    );
    expect(await restarted.events(a, 2)).toEqual(events(a, 2, [{ type: "status", status: "interrupted" }]));
    expect([(await restarted.get(q))?.status, await restarted.queuePosition(q), (await restarted.get(done))?.status]).toEqual(["queued", 1, "succeeded"]);
    expect(await restarted.recoverRunning("r1", f, () => outcome("x"), closing)).toEqual([]);
  });

  test("retention prunes finished runs older than the limit, with their events, never unfinished ones", async () => {
    await fresh();
    const [old, recent, stuck] = ids(3) as [string, string, string];
    for (const id of [old, recent, stuck]) await store.enqueue(record(id, 1000), request("p"), null, queuedEvents(id), 10);
    await store.finish(old, succeeded(old, 2000), []);
    await store.finish(recent, succeeded(recent, 9000), []);
    expect(await store.prune(5000)).toBe(1);
    expect([await store.get(old), (await store.get(recent))?.id, (await store.get(stuck))?.status, await store.events(old, 0)]).toEqual([null, recent, "queued", []]);
  });

  test("a run's diff is kept by its finish, read back whole (any text, truncation flag), and pruned with the run", async () => {
    await fresh();
    const [withDiff, without, queued] = ids(3) as [string, string, string];
    for (const id of [withDiff, without, queued]) await store.enqueue(record(id, 1000, { title: `title of ${id}` }), request("p"), null, queuedEvents(id), 10);
    const text = "diff --git a/ü.txt b/ü.txt\n--- a/ü.txt\n+++ b/ü.txt\n@@ -1 +1 @@\n-\0old\n+new 'quoted' $1 \\n\n" + "x".repeat(200_000);
    await store.finish(withDiff, { ...succeeded(withDiff, 2000), diff: { text, truncated: true } }, []);
    await store.finish(without, succeeded(without, 2000), []);
    expect([await store.diff(withDiff), await store.diff(without), await store.diff(queued)]).toEqual([{ text, truncated: true }, null, null]);
    expect([await store.hasDiff(withDiff), await store.hasDiff(without), await store.hasDiff(queued)]).toEqual([true, false, false]);
    expect((await store.get(withDiff))?.title).toBe(`title of ${withDiff}`);
    expect((await store.list({ limit: 10 })).map((r) => r.title).sort()).toEqual([withDiff, without, queued].map((id) => `title of ${id}`).sort());
    expect(await store.prune(5000)).toBe(2);
    expect(await store.diff(withDiff)).toBeNull();
    expect(await h.query("SELECT count(*) AS n FROM diffs")).toEqual([{ n: factory.name === "postgres" ? "0" : 0 }]);
  });

  test("threads: a conversation in order, a run's children, its continuation kept and read back, caps round trip", async () => {
    await fresh();
    const [root, b, c, other] = ids(4) as [string, string, string, string];
    const caps = { max_cost_usd: 0.5, max_tokens: null, max_steps: 7 };
    const rows = [
      record(root, 10, { limits: caps, threadLimits: caps }),
      record(b, 20, { parentId: root, threadId: root, threadLimits: caps }),
      record(c, 30, { parentId: root, threadId: root, threadLimits: caps }),
      record(other, 15),
    ];
    for (const r of rows) await store.enqueue(r, request("p"), null, queuedEvents(r.id), 10);
    expect(await store.thread(root, 10)).toEqual(rows.slice(0, 3));
    expect(await store.thread(root, 10, { createdAt: 10, id: root })).toEqual(rows.slice(1, 3));
    expect(await store.thread(root, 1)).toEqual(rows.slice(0, 1));
    expect([await store.children(root), await store.children(b)]).toEqual([[b, c], []]);
    const blob = new Uint8Array(300_000).map((_, i) => (i * 7) % 256);
    expect([await store.hasContinuation(root), await store.loadContinuation(root)]).toEqual([false, null]);
    await store.saveContinuation(root, blob);
    expect([await store.hasContinuation(root), await store.loadContinuation(root)]).toEqual([true, blob]);
  });

  test("retention prunes a conversation whole, once its newest run is old enough: continuations go with their runs", async () => {
    await fresh();
    const [root, child, alone] = ids(3) as [string, string, string];
    await store.enqueue(record(root, 1000), request("p"), null, [], 10);
    await store.enqueue(record(child, 1500, { parentId: root, threadId: root }), request("p"), null, [], 10);
    await store.enqueue(record(alone, 1000), request("p"), null, [], 10);
    await store.finish(root, succeeded(root, 2000), []);
    await store.finish(alone, succeeded(alone, 2000), []);
    await store.saveContinuation(root, new Uint8Array([9]));
    // The child is still queued: its thread stays, though the root is old.
    expect(await store.prune(5000)).toBe(1);
    expect([(await store.get(root))?.id, await store.get(alone)]).toEqual([root, null]);
    await store.finish(child, succeeded(child, 8000), []);
    expect(await store.prune(5000)).toBe(0);
    expect(await store.prune(9000)).toBe(2);
    expect([await store.get(root), await store.get(child), await store.hasContinuation(root)]).toEqual([null, null, false]);
  });

  test("starting at once: a local store stores the run as running; a shared store refuses", async () => {
    await fresh();
    const [id] = ids(1) as [string];
    const running = record(id, 5, { status: "running", startedAt: 5, replica: "r1" });
    if (store.shared) {
      await expect(store.insertRunning(running, queuedEvents(id))).rejects.toBeInstanceOf(StoreError);
      expect(await store.get(id)).toBeNull();
    } else {
      await store.insertRunning(running, queuedEvents(id));
      expect([await store.get(id), await store.events(id, 0), await store.queuedCount()]).toEqual([running, queuedEvents(id), 0]);
    }
  });

  test("probe writes; a closed store rejects every call with a StoreError", async () => {
    await fresh();
    await store.probe();
    await store.close();
    await expect(store.probe()).rejects.toBeInstanceOf(StoreError);
    await expect(store.get("x")).rejects.toBeInstanceOf(StoreError);
    await expect(store.enqueue(record("x", 1), request("p"), null, [], 10)).rejects.toBeInstanceOf(StoreError);
  });
});

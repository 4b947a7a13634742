// The event log batches a run's events for a short while when nobody follows it on a local store: a short run's events go in its end's commit.
import { expect, test } from "bun:test";
import path from "node:path";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { BATCH_BYTES, EventLog } from "../../src/runs/event-log.ts";
import { newRunId } from "../../src/runs/ids.ts";
import { recordEnd, UnrecordedEnds } from "../../src/runs/record-end.ts";
import { StoreHealth } from "../../src/runs/store-health.ts";
import type { RunEvent } from "../../src/runs/model.ts";
import type { RunStore } from "../../src/runs/store.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { outcome, record } from "../store/fixtures.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const logger = createLogger({ level: "error", redactor: new Redactor(), sink: () => {} });

/** A real SQLite store that counts the writes of events (alone, or with a run's end); `shared` pretends to be Postgres. */
function counted(shared = false) {
  const inner = new SqliteRunStore(path.join(tempDir("ocs-batch-"), "runs.db"));
  const writes = { appendEvents: 0, finish: 0 };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "shared") return shared;
      if (prop === "appendEvents" || prop === "finish") writes[prop]++;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as RunStore;
  return { store, writes };
}

async function started(store: RunStore, events: EventLog): Promise<string> {
  const id = newRunId();
  events.begin(id);
  await store.insertRunning({ ...record(id, Date.now()), status: "running", startedAt: Date.now() }, events.make(id, [{ type: "status", status: "running" }]));
  return id;
}

const noFault = (err: unknown) => {
  throw err;
};

test("a short run nobody follows: its events are written in the commit of its end, in order, and published after it", async () => {
  const { store, writes } = counted();
  const events = new EventLog(store, new Redactor());
  const id = await started(store, events);
  events.append(id, { type: "text", text: "one" }, noFault);
  events.append(id, { type: "text", text: "two" }, noFault);
  const health = new StoreHealth(store, logger);
  // A waiter on the answer (not a follower of the stream) is told through the scheduler, not a listener: none here.
  await recordEnd({ store, events, health, logger }, new UnrecordedEnds(), id, "succeeded", outcome(id, "two"));
  health.stop();
  expect(writes).toEqual({ appendEvents: 0, finish: 1 });
  const stored = await store.events(id, 0);
  expect(stored.map((e) => [e.seq, e.type, "text" in e ? e.text : null])).toEqual([
    [1, "status", null],
    [2, "text", "one"],
    [3, "text", "two"],
    [4, "status", null],
    [5, "result", null],
  ]);
});

test("a run that goes on: its events are stored (and published) within the batch window, without waiting for its end", async () => {
  const { store, writes } = counted();
  const events = new EventLog(store, new Redactor());
  const id = await started(store, events);
  events.append(id, { type: "text", text: "one" }, noFault);
  events.append(id, { type: "text", text: "two" }, noFault);
  await waitFor(async () => (await store.events(id, 1)).length === 2, { what: "the batch to be written" });
  expect(writes.appendEvents).toBe(1);
});

test("a follower, or a store other replicas read, gets every event at once: no batching", async () => {
  for (const shared of [false, true]) {
    const { store, writes } = counted(shared);
    const events = new EventLog(store, new Redactor());
    const id = await started(store, events);
    const seen: number[] = [];
    if (!shared) events.listen(id, (e) => seen.push(e.seq));
    events.append(id, { type: "text", text: "one" }, noFault);
    // The write began synchronously: nothing waits out the batch window.
    expect(writes.appendEvents).toBe(1);
    await events.settled(id);
    expect((await store.events(id, 1)).length).toBe(1);
    if (!shared) expect(seen).toEqual([2]);
  }
});

test("someone starting to follow a run flushes what waits in its batch", async () => {
  const { store, writes } = counted();
  const events = new EventLog(store, new Redactor());
  const id = await started(store, events);
  events.append(id, { type: "text", text: "one" }, noFault);
  expect(writes.appendEvents).toBe(0);
  const sub = await events.subscribe(id, 0, () => {});
  expect(writes.appendEvents).toBe(1);
  await events.settled(id);
  expect((await store.events(id, 0)).map((e) => e.seq)).toEqual([1, 2]);
  sub.unsubscribe();
});

test("a flood of events nobody follows is written once a batch's worth has gathered, a batch at a time, in order", async () => {
  const inner = new SqliteRunStore(path.join(tempDir("ocs-batch-"), "runs.db"));
  const batches: number[] = [];
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop === "appendEvents") return (batch: RunEvent[]) => (batches.push(batch.reduce((n, e) => n + JSON.stringify(e).length, 0)), inner.appendEvents(batch));
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as RunStore;
  const events = new EventLog(store, new Redactor());
  const id = await started(store, events);
  const text = "t".repeat(1000);
  // ~1.1 MB of text events appended in one go, as a flooding agent's lines arrive: the timer cannot fire meanwhile.
  for (let i = 0; i < 1000; i++) events.append(id, { type: "text", text }, noFault);
  // The write began as soon as a batch's worth had gathered, without waiting out the batch window.
  expect(batches.length).toBe(1);
  await events.settled(id);
  expect(batches.length).toBeGreaterThan(4);
  expect(Math.max(...batches)).toBeLessThanOrEqual(BATCH_BYTES);
  expect((await store.events(id, 1)).map((e) => e.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 2));
});

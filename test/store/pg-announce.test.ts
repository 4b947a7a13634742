// Announcements between Postgres replicas: events, queue changes and cancellations reach the others (not the sender), across a lost connection.
import { expect, test } from "bun:test";
import { SQL } from "bun";
import { newRunId } from "../../src/runs/ids.ts";
import type { StoreWatch } from "../../src/runs/store.ts";
import { PgRunStore } from "../../src/store/pg-store.ts";
import { listening } from "../support/postgres.ts";
import { waitFor } from "../support/wait.ts";
import { clusterForFile } from "./pg-cluster.ts";
import { events, queuedEvents, record, request } from "./fixtures.ts";

const pg = clusterForFile();
const opened = pg.opened;

interface Heard {
  events: [string, number, number][];
  queue: number;
  cancel: string[];
  reconnected: number;
}

function recorder(): { heard: Heard; handlers: StoreWatch } {
  const heard: Heard = { events: [], queue: 0, cancel: [], reconnected: 0 };
  return {
    heard,
    handlers: {
      events: (runId, seq) => heard.events.push([runId, seq, performance.now()]),
      queue: () => heard.queue++,
      cancel: (runId) => heard.cancel.push(runId),
      reconnected: () => heard.reconnected++,
    },
  };
}

async function pair(): Promise<{ url: string; a: PgRunStore; b: PgRunStore }> {
  const url = await pg.cluster.createDatabase();
  const [a, b] = await Promise.all([PgRunStore.open(url, { connectTimeoutMs: 10_000 }), PgRunStore.open(url, { connectTimeoutMs: 10_000 })]);
  opened.push(a, b);
  return { url, a, b };
}

const percentile = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] as number;

test("what A writes is announced on B (run and number), never back on A; queue changes and cancellations too", async () => {
  const { url, a, b } = await pair();
  const onA = recorder();
  const onB = recorder();
  const stops = [a.watch(onA.handlers), b.watch(onB.handlers)];
  await listening(url, 2);
  const probe = newRunId();
  await a.enqueue(record(probe, 1), request("p"), null, queuedEvents(probe), 1000);
  await waitFor(() => onB.heard.queue > 0, { what: "the first queue announcement on B" });
  expect(onB.heard.events).toEqual([[probe, 1, expect.any(Number)]]);

  const id = newRunId();
  await a.enqueue(record(id, 2), request("p"), null, queuedEvents(id), 1000);
  // Latency A → B: from just before the append is sent to B's handler (the append's own round trip included).
  const samples: number[] = [];
  for (let seq = 2; seq < 202; seq++) {
    const t0 = performance.now();
    await a.appendEvents(events(id, seq - 1, [{ type: "text", text: `t${seq}` }]));
    const heard = await waitFor(() => onB.heard.events.find(([r, s]) => r === id && s === seq), { intervalMs: 0, what: `event ${seq} on B` });
    samples.push(heard[2] - t0);
  }
  console.log(`announcement A→B latency over ${samples.length}: p50 ${percentile(samples, 50).toFixed(2)} ms, p99 ${percentile(samples, 99).toFixed(2)} ms`);
  // Several events of one run in one write: one announcement, its highest number.
  const before = onB.heard.events.length;
  await a.appendEvents(events(id, 201, [{ type: "text", text: "x" }, { type: "text", text: "y" }]));
  await waitFor(() => onB.heard.events.length > before, { what: "a batch announcement" });
  expect(onB.heard.events.slice(before).map(([r, s]) => [r, s])).toEqual([[id, 203]]);

  await a.requestCancel(id);
  await waitFor(() => onB.heard.cancel.length > 0, { what: "a cancel announcement on B" });
  expect(onB.heard.cancel).toEqual([id]);
  // B's own writes reach A, not B.
  await b.appendEvents(events(id, 203, [{ type: "text", text: "from b" }]));
  await waitFor(() => onA.heard.events.length > 0, { what: "B's event on A" });
  expect(onA.heard.events.map(([r, s]) => [r, s])).toEqual([[id, 204]]);
  expect(onB.heard.events.some(([, s]) => s === 204)).toBe(false);
  expect([onA.heard.queue, onA.heard.cancel, onA.heard.reconnected, onB.heard.reconnected]).toEqual([0, [], 0, 0]);
  for (const stop of stops) stop();
});

test("B's listening connection is killed: B hears reconnected() and the announcements after it", async () => {
  const { url, a, b } = await pair();
  const onB = recorder();
  const stop = b.watch(onB.handlers);
  await listening(url, 1);
  const admin = new SQL(url, { max: 1 });
  opened.push(admin);
  const killed = (await admin`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`) as { ok: boolean }[];
  expect(killed.map((k) => k.ok)).toEqual([true]);
  await waitFor(() => onB.heard.reconnected === 1, { what: "reconnected() on B" });
  const id = newRunId();
  await a.enqueue(record(id, 2), request("p"), null, queuedEvents(id), 1000);
  await waitFor(() => onB.heard.events.some(([r]) => r === id), { what: "an announcement after the reconnection" });
  stop();
  await listening(url, 0);
  // Stopped: nothing more is delivered (a watcher on a third store is the sync point).
  const c = await PgRunStore.open(url, { connectTimeoutMs: 10_000 });
  opened.push(c);
  const onC = recorder();
  c.watch(onC.handlers);
  await listening(url, 1);
  const heard = onB.heard.events.length;
  const later = newRunId();
  await a.enqueue(record(later, 3), request("p"), null, queuedEvents(later), 1000);
  await waitFor(() => onC.heard.events.some(([r]) => r === later), { what: "the sync point" });
  expect(onB.heard.events.length).toBe(heard);
});

test("a store closed while watching drops what arrives after and closes cleanly", async () => {
  const { url, a, b } = await pair();
  const onB = recorder();
  b.watch(onB.handlers);
  const c = await PgRunStore.open(url, { connectTimeoutMs: 10_000 });
  opened.push(c);
  const onC = recorder();
  c.watch(onC.handlers);
  await listening(url, 2);
  const id = newRunId();
  await a.enqueue(record(id, 1), request("p"), null, queuedEvents(id), 1000);
  await waitFor(() => onB.heard.queue > 0, { what: "B hearing" });
  await b.close();
  await listening(url, 1);
  await a.appendEvents(events(id, 1, [{ type: "text", text: "after close" }]));
  await waitFor(() => onC.heard.events.some(([, s]) => s === 2), { what: "the sync point" });
  expect(onB.heard.events.map(([r, s]) => [r, s])).toEqual([[id, 1]]);
});

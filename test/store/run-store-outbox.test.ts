// The webhook outbox contract for both run stores: deliveries made with the status events that cause them, taken once, attempted, pruned.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { newRunId } from "../../src/runs/ids.ts";
import type { RunStore } from "../../src/runs/store.ts";
import type { Delivery, WebhookSubscription } from "../../src/webhooks/model.ts";
import { postgresFactory, sqliteFactory, type Harness } from "./factories.ts";
import { events, maker, outcome, queuedEvents, record, request, succeeded, TIME } from "./fixtures.ts";

const AT = Date.parse(TIME);
const HOOK = "https://hooks.example.com/ci/run";
const SUBSCRIBED: WebhookSubscription[] = [
  { target: "callback", url: HOOK, event: "run.finished" },
  { target: "server", url: null, event: "run.finished" },
  { target: "callback", url: HOOK, event: "run.status" },
];

const pending = (runId: string, seq: number, event: Delivery["event"], status: string, target: Delivery["target"]): Delivery => ({
  id: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown as string,
  runId,
  seq,
  event,
  status,
  target,
  url: target === "callback" ? HOOK : null,
  state: "pending",
  attempts: [],
  nextAt: AT,
  createdAt: AT,
});

describe.each([sqliteFactory(), postgresFactory()])("$name webhook outbox", (factory) => {
  beforeAll(() => factory.setup());
  afterAll(() => factory.teardown());

  let h: Harness;
  let store: RunStore;
  const fresh = async () => {
    h = await factory.fresh();
    store = h.store;
  };

  test("every status change of a subscribed run makes its deliveries in the same write; other runs make none; a retried write makes none twice", async () => {
    await fresh();
    const [a, b] = [newRunId(), newRunId()];
    await store.enqueue(record(a, 1, { webhooks: SUBSCRIBED }), request("a"), null, queuedEvents(a), 10);
    await store.enqueue(record(b, 2), request("b"), null, queuedEvents(b), 10);
    expect(await store.deliveries(a)).toEqual([pending(a, 1, "run.status", "queued", "callback")]);
    expect((await store.get(a))?.webhooks).toEqual(SUBSCRIBED);

    await store.claim("r1", 10, 10 + 60_000, () => false, maker([{ type: "status", status: "running" }]));
    const end = events(a, 2, [{ type: "status", status: "succeeded" }, { type: "result", status: "succeeded", answer: outcome(a) }]);
    await store.finish(a, succeeded(a, 20), end);
    // The same events again (a retry after a lost answer): stored once, delivered once.
    await store.appendEvents(end);
    await store.claim("r1", 30, 30 + 60_000, () => false, maker([{ type: "status", status: "running" }]));
    await store.finish(b, succeeded(b, 40), events(b, 2, [{ type: "status", status: "succeeded" }, { type: "result", status: "succeeded", answer: outcome(b) }]));

    // A final status is announced once, by run.finished (its status event makes no run.status delivery).
    expect(await store.deliveries(a)).toEqual([
      pending(a, 1, "run.status", "queued", "callback"),
      pending(a, 2, "run.status", "running", "callback"),
      pending(a, 4, "run.finished", "succeeded", "callback"),
      pending(a, 4, "run.finished", "succeeded", "server"),
    ]);
    expect(await store.deliveries(b)).toEqual([]);
    const due = await (await h.open()).dueDeliveries(AT, 10);
    expect(due.map((d) => [d.seq, d.target]).sort()).toEqual([[1, "callback"], [2, "callback"], [4, "callback"], [4, "server"]]);
    expect(await store.dueDeliveries(AT - 1, 10)).toEqual([]);
    // Pages by (nextAt, id): together they are the whole list, in order, each once.
    const first = await store.dueDeliveries(AT, 3);
    const last = first.at(-1) as Delivery;
    const rest = await store.dueDeliveries(AT, 3, { nextAt: last.nextAt as number, id: last.id });
    expect([first.length, rest.length, [...first, ...rest].map((d) => d.id)]).toEqual([3, 1, [...due].sort((x, y) => (x.id < y.id ? -1 : 1)).map((d) => d.id)]);
  });

  test("a process that did not store the run (a restart, recovery, another replica) still makes its deliveries; one without subscriptions makes none", async () => {
    await fresh();
    const [a, b] = [newRunId(), newRunId()];
    await store.enqueue(record(a, 1, { webhooks: [SUBSCRIBED[0] as WebhookSubscription] }), request("a"), null, queuedEvents(a), 10);
    await store.enqueue(record(b, 2), request("b"), null, queuedEvents(b), 10);
    const later = await h.open();
    for (const id of [a, b]) await later.finishQueued(id, succeeded(id, 5), maker([{ type: "status", status: "succeeded" }, { type: "result", status: "succeeded", answer: outcome(id) }]));
    expect([await later.deliveries(a), await later.deliveries(b)]).toEqual([[pending(a, 3, "run.finished", "succeeded", "callback")], []]);
  });

  test("a delivery is taken by one process only, attempted, rescheduled, and settled; settled ones are never due", async () => {
    await fresh();
    const a = newRunId();
    await store.enqueue(record(a, 1, { webhooks: [SUBSCRIBED[2] as WebhookSubscription] }), request("a"), null, queuedEvents(a), 10);
    const [d] = (await store.dueDeliveries(AT, 10)) as [Delivery];
    const other = await h.open();
    expect([await store.moveDelivery(d.id, AT, AT + 5000), await other.moveDelivery(d.id, AT, AT + 9000)]).toEqual([true, false]);
    expect(await other.dueDeliveries(AT + 4999, 10)).toEqual([]);

    const failed = { at: TIME, status_code: 500, error: "status 500", duration_ms: 12 };
    await store.recordAttempt(d.id, failed, { state: "pending", nextAt: AT + 7000 });
    expect(await other.dueDeliveries(AT + 7000, 10)).toEqual([{ ...pending(a, 1, "run.status", "queued", "callback"), id: d.id, attempts: [failed], nextAt: AT + 7000 }]);
    const ok = { at: TIME, status_code: 204, error: null, duration_ms: 3.5 };
    expect(await other.moveDelivery(d.id, AT + 7000, AT + 20_000)).toBe(true);
    await other.recordAttempt(d.id, ok, { state: "delivered", nextAt: null });
    expect(await store.deliveries(a)).toEqual([{ ...pending(a, 1, "run.status", "queued", "callback"), id: d.id, state: "delivered", attempts: [failed, ok], nextAt: null }]);
    expect([await store.dueDeliveries(Number.MAX_SAFE_INTEGER, 10), await store.moveDelivery(d.id, AT + 20_000, AT)]).toEqual([[], false]);
  });

  test("retention prunes a run's deliveries with it", async () => {
    await fresh();
    const a = newRunId();
    await store.enqueue(record(a, 1000, { webhooks: SUBSCRIBED }), request("a"), null, queuedEvents(a), 10);
    await store.finish(a, succeeded(a, 2000), events(a, 1, [{ type: "result", status: "succeeded", answer: outcome(a) }]));
    expect((await store.deliveries(a)).length).toBe(3);
    expect(await store.prune(5000)).toBe(1);
    expect([await store.deliveries(a), await store.dueDeliveries(Number.MAX_SAFE_INTEGER, 10)]).toEqual([[], []]);
  });
});

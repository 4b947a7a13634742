// Following a run's events across the moment it ends, and with a Last-Event-ID beyond what the run has so far.
import { expect, test } from "bun:test";
import { testApp, text } from "../support/app.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { readEvents } from "../support/sse.ts";

test("a stream whose Last-Event-ID is beyond the run's events gets what comes next, up to the result, and ends", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const runner = new FakeRunner(async (input) => {
    await gate;
    input.onEvent({ type: "text", text: "later" });
    return { output: "done" };
  });
  const t = testApp({ runner });
  const res = await t.request("/run", text("x", { accept: "text/event-stream", "last-event-id": "99" }));
  expect(res.status).toBe(200);
  await runner.waitForCalls(1);
  release();
  const events = await readEvents(res);
  // Nothing before the run's real last number at subscription (its queued and running status), all after it.
  expect(events.map((e) => [Number(e.id), e.data.type])).toEqual([
    [3, "text"],
    [4, "status"],
    [5, "result"],
  ]);
  await t.close();
});

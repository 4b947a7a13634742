// The durable queue in-process: what an earlier process left queued runs first, and no prompt stays in the store once its run started.
import { NO_LIMITS } from "../../src/runs/model.ts";
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { newRecord } from "../../src/runs/admission.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { testApp, text } from "../support/app.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { readJson } from "../support/http.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const DB = "opencode-server.db";

/** A run queued by "the previous server process" on this DATA_DIR. */
async function queueEarlier(dataDir: string, prompt: string): Promise<string> {
  const store = new SqliteRunStore(path.join(dataDir, DB));
  const request = { prompt, model: null, agent: null, repository: null };
  const record = newRecord(request, { requestId: `earlier-${prompt}`, idempotencyKey: null, fingerprint: "f", model: null, now: Date.now(), limits: NO_LIMITS, thread: { asked: NO_LIMITS }, webhooks: [] });
  await store.enqueue(record, request, null, [{ run_id: record.id, seq: 1, time: new Date().toISOString(), type: "status", status: "queued" }], 100);
  await store.close();
  return record.id;
}

test("runs an earlier process left queued start before a new run that arrives while the server starts, in their order", async () => {
  const dataDir = tempDir("ocs-queue-order-");
  const first = await queueEarlier(dataDir, "earlier one");
  const second = await queueEarlier(dataDir, "earlier two");
  const runner = new FakeRunner((input) => ({ output: input.prompt }));
  const t = testApp({ dataDir, runner, maxConcurrent: 1 });
  // Sent at once, while the server is still recovering: it must not overtake the queue.
  const fresh = readJson(await t.request("/runs", text("new one")));
  const id = String((await fresh).id);
  await waitFor(async () => (await readJson(await t.request(`/runs/${id}`))).status === "succeeded", { what: "all three runs" });
  expect(runner.calls.map((c) => c.prompt)).toEqual(["earlier one", "earlier two", "new one"]);
  for (const earlier of [first, second]) expect((await readJson(await t.request(`/runs/${earlier}`))).status).toBe("succeeded");
  await t.close();
});

test("a queued run's prompt is gone from the database file once it started (its first line stays, as the title); a run that starts at once never wrote it", async () => {
  const dataDir = tempDir("ocs-queue-prompt-");
  let release: () => void = () => {};
  const blocked = new Promise<void>((r) => (release = r));
  const runner = new FakeRunner(async (input) => {
    if (input.prompt.startsWith("at-once")) await blocked;
    return { output: "done" };
  });
  const t = testApp({ dataDir, runner, maxConcurrent: 1 });
  const atOnceBody = `at-once-body-${crypto.randomUUID()}`;
  const queuedBody = `queued-body-${crypto.randomUUID()}`;
  const atOnce = `at-once title\n${atOnceBody}`;
  const queued = `queued title\n\n${queuedBody}`;
  const a = t.request("/run", text(atOnce));
  await runner.waitForCalls(1);
  const b = t.request("/run", text(queued));
  await waitFor(() => t.runs.queued === 1, { what: "the second run to be queued" });
  release();
  expect((await a).status).toBe(200);
  expect((await b).status).toBe(200);
  // Closing checkpoints the WAL into the file: what is left is what the store keeps.
  await t.close();
  const bytes = readFileSync(path.join(dataDir, DB)).toString("latin1");
  expect(bytes.includes(atOnceBody)).toBe(false);
  expect(bytes.includes(queuedBody)).toBe(false);
  // The runs themselves are there (the check reads the right file), with their titles.
  const reopened = new SqliteRunStore(path.join(dataDir, DB));
  expect((await reopened.list({ limit: 10 })).map((r) => [r.status, r.title])).toEqual([
    ["succeeded", "queued title"],
    ["succeeded", "at-once title"],
  ]);
  await reopened.close();
});

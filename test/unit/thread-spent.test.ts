// A thread's spend is summed over all its runs, however long it is: a long conversation cannot step around its budget.
import { expect, test } from "bun:test";
import path from "node:path";
import { newRunId } from "../../src/runs/ids.ts";
import { threadSpent } from "../../src/runs/run-start.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { outcome, record, request } from "../store/fixtures.ts";
import { tempDir } from "../support/temp.ts";

test("10,002 finished runs in one thread: every one counts, the newest included", async () => {
  const store = new SqliteRunStore(path.join(tempDir("ocs-thread-"), "runs.db"));
  const root = newRunId();
  const ids = [root, ...Array.from({ length: 10_001 }, () => newRunId())];
  for (const [i, id] of ids.entries()) {
    await store.enqueue(record(id, i + 1, { parentId: i === 0 ? null : root, threadId: root }), request("p"), null, [], 1_000_000);
    // Only the newest run spent anything: a sum cut at some length would miss it.
    const cost = i === ids.length - 1 ? 2.5 : 0;
    const o = { ...outcome(id), usage: { ...outcome(id).usage, input_tokens: cost ? 100 : 0, cost } };
    await store.finish(id, { status: "succeeded", code: null, error: null, at: i + 2, outcome: o }, []);
  }
  const next = record(newRunId(), 20_000, { parentId: root, threadId: root });
  expect(await threadSpent(store, next)).toEqual({ cost_usd: 2.5, tokens: 100, steps: 0 });
  await store.close();
}, 60_000);

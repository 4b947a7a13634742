// The run store: the durable queue, events, reopening, retention, and recovery after a crash.
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { RUN_COOKIE_VAR } from "../../src/proc/process-tree.ts";
import { enableSubreaper, track, untrack } from "../../src/proc/reaper.ts";
import { EventLog } from "../../src/runs/event-log.ts";
import { newRunId } from "../../src/runs/ids.ts";
import type { QueuedRequest, RunOutcome, RunRecord } from "../../src/runs/model.ts";
import { recoverRuns } from "../../src/runs/recovery.ts";
import { workspacePrefix } from "../../src/runs/workspace.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { processesRunning } from "../support/procs.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const logger = createLogger({ level: "error", redactor: new Redactor(), sink: () => {} });

function record(id: string, createdAt: number): RunRecord {
  return {
    id,
    requestId: `req-${id}`,
    status: "queued",
    code: null,
    error: null,
    createdAt,
    startedAt: null,
    finishedAt: null,
    idempotencyKey: null,
    fingerprint: "f",
    promptChars: 6,
    model: null,
    agent: null,
    repository: null,
    branch: null,
    base: null,
    push: null,
    outcome: null,
  };
}

const request = (prompt: string): QueuedRequest => ({ prompt, model: null, agent: null, repository: null });
const outcome = (id: string, output = "ok"): RunOutcome => ({
  success: true,
  error: null,
  output,
  execution_time: "1ms",
  queue_time: "0s",
  request_id: `req-${id}`,
  run_id: id,
  session_id: null,
  model: null,
  usage: { input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0 },
  tools: [],
  egress: [],
  output_truncated: false,
  exit_code: 0,
});

function fresh() {
  const file = path.join(tempDir("ocs-db-"), "runs.db");
  const store = new SqliteRunStore(file);
  return { file, store, events: new EventLog(store, new Redactor()) };
}

test("the queue is durable and ordered: claims skip busy branches, hand over the request and delete it", () => {
  const { file, store, events } = fresh();
  const [a, b, c] = [newRunId(), newRunId(), newRunId()];
  store.enqueue(record(a, 1), request("prompt a"), "repo#main", events.make(a, [{ type: "status", status: "queued" }]));
  store.enqueue(record(b, 2), request("prompt b"), "repo#main", events.make(b, [{ type: "status", status: "queued" }]));
  store.enqueue(record(c, 3), request("prompt c"), null, events.make(c, [{ type: "status", status: "queued" }]));
  expect([store.queuedCount(), store.queuePosition(a), store.queuePosition(b), store.queuePosition(c)]).toEqual([3, 1, 2, 3]);
  store.close();

  // After a restart, the same queue.
  const reopened = new SqliteRunStore(file);
  const first = reopened.claim(10, () => false);
  expect(first).toMatchObject({ record: { id: a, status: "running", startedAt: 10 }, request: request("prompt a"), lock: "repo#main" });
  // b shares a's branch, which is busy now: c goes first.
  expect(reopened.claim(11, (lock) => lock === "repo#main")?.record.id).toBe(c);
  expect(reopened.claim(12, (lock) => lock === "repo#main")).toBeNull();
  expect(reopened.claim(13, () => false)?.request).toEqual(request("prompt b"));
  expect([reopened.queuedCount(), reopened.queuePosition(b)]).toEqual([0, null]);
  reopened.close();
  // No prompt is left anywhere once the runs started.
  const raw = new Database(file, { readonly: true });
  expect(raw.query("SELECT count(*) AS n FROM queue").get()).toEqual({ n: 0 });
  raw.close();
});

test("a reopened store keeps its runs and events; WAL mode is on; a clean close removes the WAL", () => {
  const { file, store, events } = fresh();
  const id = newRunId();
  const queued = events.make(id, [{ type: "status", status: "queued" }]);
  store.enqueue(record(id, 1000), request("p"), null, queued);
  expect(existsSync(`${file}-wal`)).toBe(true);
  store.close();
  const b = new SqliteRunStore(file);
  expect(b.get(id)).toEqual(record(id, 1000));
  expect([b.lastSeq(id), b.events(id, 0)]).toEqual([1, queued]);
  b.close();
  expect(existsSync(`${file}-wal`)).toBe(false);
});

test("retention prunes finished runs older than the limit, with their events, and never unfinished ones", () => {
  const { store, events } = fresh();
  const [old, recent, stuck] = [newRunId(), newRunId(), newRunId()];
  for (const id of [old, recent, stuck]) store.enqueue(record(id, 1000), request("p"), null, events.make(id, [{ type: "status", status: "queued" }]));
  store.finish(old, { status: "succeeded", code: null, error: null, at: 2000, outcome: outcome(old) }, []);
  store.finish(recent, { status: "succeeded", code: null, error: null, at: 9000, outcome: outcome(recent) }, []);
  expect(store.prune(5000)).toBe(1);
  expect([store.get(old), store.get(recent)?.id, store.get(stuck)?.status]).toEqual([null, recent, "queued"]);
  expect(store.events(old, 0)).toEqual([]);
});

test("after a crash: running runs become interrupted, their processes die, their workspaces go, their streams end; queued runs stay queued", async () => {
  expect(enableSubreaper()).toBe(true);
  const dir = tempDir("ocs-crash-");
  const workDir = path.join(dir, "work");
  const { store, events } = fresh();
  const [running, queued, done] = [newRunId(), newRunId(), newRunId()];
  for (const id of [running, queued, done]) store.enqueue(record(id, Date.now()), request("p"), null, events.make(id, [{ type: "status", status: "queued" }]));
  expect(store.claim(Date.now(), () => false)?.record.id).toBe(running);
  store.appendEvents(events.make(running, [{ type: "status", status: "running" }]));
  expect(store.claim(Date.now(), () => false)?.record.id).toBe(queued);
  // A run that was claimed and finished; `queued` is put back to show that only `running` runs are recovered.
  store.finish(queued, { status: "succeeded", code: null, error: null, at: Date.now(), outcome: outcome(queued) }, []);
  const stillQueued = newRunId();
  store.enqueue(record(stillQueued, Date.now()), request("waits"), null, events.make(stillQueued, [{ type: "status", status: "queued" }]));
  store.finish(done, { status: "succeeded", code: null, error: null, at: Date.now(), outcome: outcome(done) }, []);
  // What a killed server leaves: the agent's process (with the run's cookie) and its workspace.
  const leftover = `sleep 341.${process.pid}`;
  const proc = Bun.spawn(["sh", "-c", `${leftover}`], { env: { PATH: process.env.PATH ?? "/bin", [RUN_COOKIE_VAR]: running }, detached: true, stdout: "ignore", stderr: "ignore" });
  track(proc.pid);
  void proc.exited.then(() => untrack(proc.pid));
  await waitFor(() => processesRunning(leftover).length === 1, { what: "leftover agent" });
  const workspace = path.join(workDir, `${workspacePrefix(running)}abc123`);
  mkdirSync(path.join(workspace, "agent", "work"), { recursive: true });
  const unrelated = path.join(workDir, "someone-else");
  mkdirSync(unrelated);

  const fresher = new EventLog(store, new Redactor());
  expect(await recoverRuns(store, fresher, { workDir, logger })).toEqual([running]);
  expect(processesRunning(leftover)).toEqual([]);
  expect([existsSync(workspace), existsSync(unrelated)]).toEqual([false, true]);
  expect(store.get(running)).toMatchObject({ status: "interrupted", code: "interrupted", error: "The server stopped (crash, kill or restart) before the run finished (it was running)" });
  expect(store.get(running)?.outcome).toMatchObject({ success: false, code: "interrupted", run_id: running });
  expect(store.events(running, 2).map((e) => [e.seq, e.type])).toEqual([
    [3, "status"],
    [4, "result"],
  ]);
  expect([store.get(stillQueued)?.status, store.queuePosition(stillQueued), store.get(done)?.status]).toEqual(["queued", 1, "succeeded"]);
  expect(await recoverRuns(store, fresher, { workDir, logger })).toEqual([]);
});

test("a result event is stored without its answer and read back with the run's outcome attached", () => {
  const { file, store, events } = fresh();
  const id = newRunId();
  store.enqueue(record(id, 1000), request("p"), null, []);
  const answer = outcome(id, "x".repeat(100_000));
  const last = events.make(id, [{ type: "status", status: "succeeded" }, { type: "result", status: "succeeded", answer }]);
  store.finish(id, { status: "succeeded", code: null, error: null, at: 2000, outcome: answer }, last);
  expect(store.events(id, 0)).toEqual(last);
  store.close();
  // The long output is in the database once: on the run row.
  const raw = new Database(file, { readonly: true });
  expect((raw.query("SELECT length(data) AS n FROM events WHERE run_id = ? AND type = 'result'").get(id) as { n: number }).n).toBeLessThan(100);
  raw.close();
});

// The SQLite store: reopening, ordering, retention, and recovery after a crash.
import { expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { RUN_COOKIE_VAR } from "../../src/proc/process-tree.ts";
import { enableSubreaper, track, untrack } from "../../src/proc/reaper.ts";
import { newRunId } from "../../src/runs/ids.ts";
import { recoverRuns } from "../../src/runs/recovery.ts";
import { workspacePrefix } from "../../src/runs/workspace.ts";
import { RunStore, type NewRun } from "../../src/store/run-store.ts";
import { processesRunning } from "../support/procs.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

function row(id: string, createdAt: number): NewRun {
  return { id, request_id: `req-${id}`, created_at: createdAt, idempotency_key: null, fingerprint: "f", prompt_chars: 3, model: null, agent: null, repository: null, branch: null, base: null, push: null };
}

const logger = createLogger({ level: "error", redactor: new Redactor(), sink: () => {} });

test("a reopened store keeps its runs and events; WAL mode is on", () => {
  const file = path.join(tempDir("ocs-db-"), "runs.db");
  const a = new RunStore(file);
  const id = newRunId();
  a.create(row(id, 1000));
  a.appendEvent(id, 1, "status", '{"status":"queued"}', 1000);
  expect(existsSync(`${file}-wal`)).toBe(true);
  a.close();
  const b = new RunStore(file);
  expect(b.get(id)).toMatchObject({ id, status: "queued" });
  expect(b.lastSeq(id)).toBe(1);
  expect(b.events(id, 0)).toEqual([{ seq: 1, type: "status", data: '{"status":"queued"}', time: 1000 }]);
  b.close();
  // A clean close checkpoints the WAL into the database.
  expect(existsSync(`${file}-wal`)).toBe(false);
});

test("retention prunes finished runs older than the limit, with their events, and never unfinished ones", () => {
  const store = new RunStore(path.join(tempDir("ocs-db-"), "runs.db"));
  const [old, fresh, stuck] = [newRunId(), newRunId(), newRunId()];
  for (const id of [old, fresh, stuck]) store.create(row(id, 1000));
  store.finish(old, { status: "succeeded", code: null, error: null, at: 2000, answer: "{}", httpStatus: 200 });
  store.finish(fresh, { status: "failed", code: "agent_failed", error: "x", at: 9000, answer: "{}", httpStatus: 500 });
  store.appendEvent(old, 1, "status", "{}", 2000);
  expect(store.prune(5000)).toBe(1);
  expect([store.get(old), store.get(fresh)?.id, store.get(stuck)?.status]).toEqual([null, fresh, "queued"]);
  expect(store.events(old, 0)).toEqual([]);
});

test("after a crash: runs left queued or running become interrupted, their processes die, their workspaces go, their streams end", async () => {
  expect(enableSubreaper()).toBe(true);
  const dir = tempDir("ocs-crash-");
  const workDir = path.join(dir, "work");
  const store = new RunStore(path.join(dir, "runs.db"));
  const [running, queued, done] = [newRunId(), newRunId(), newRunId()];
  for (const id of [running, queued, done]) store.create(row(id, Date.now()));
  store.markRunning(running, Date.now());
  store.appendEvent(running, 1, "status", '{"status":"queued"}', Date.now());
  store.appendEvent(running, 2, "status", '{"status":"running"}', Date.now());
  store.finish(done, { status: "succeeded", code: null, error: null, at: Date.now(), answer: '{"success":true}', httpStatus: 200 });
  // What a killed server leaves: the agent's process (with the run's cookie) and its workspace.
  const leftover = `sleep 341.${process.pid}`;
  const proc = Bun.spawn(["sh", "-c", `${leftover}`], { env: { PATH: process.env.PATH ?? "/bin", [RUN_COOKIE_VAR]: running }, detached: true, stdout: "ignore", stderr: "ignore" });
  track(proc.pid);
  void proc.exited.then(() => untrack(proc.pid));
  await waitFor(() => processesRunning(leftover).length === 1, { what: "leftover agent" });
  const workspace = path.join(workDir, `${workspacePrefix(running)}abc123`);
  mkdirSync(path.join(workspace, "work"), { recursive: true });
  const unrelated = path.join(workDir, "someone-else");
  mkdirSync(unrelated);

  expect((await recoverRuns(store, { workDir, logger })).sort()).toEqual([running, queued].sort());
  expect(processesRunning(leftover)).toEqual([]);
  expect([existsSync(workspace), existsSync(unrelated)]).toEqual([false, true]);
  const after = store.get(running);
  expect(after).toMatchObject({ status: "interrupted", code: "interrupted", error: "The server stopped (crash, kill or restart) before the run finished (it was running)", http_status: 503 });
  expect(JSON.parse(after?.answer ?? "{}")).toMatchObject({ success: false, code: "interrupted", run_id: running });
  expect(store.events(running, 2).map((e) => [e.seq, e.type])).toEqual([
    [3, "status"],
    [4, "result"],
  ]);
  expect(store.get(queued)?.error).toBe("The server stopped (crash, kill or restart) before the run finished (it was queued)");
  expect(store.get(done)?.status).toBe("succeeded");
  expect(await recoverRuns(store, { workDir, logger })).toEqual([]);
});

test("a result event is stored without its answer and read back with the run's answer attached", () => {
  const store = new RunStore(path.join(tempDir("ocs-db-"), "runs.db"));
  const id = newRunId();
  store.create(row(id, 1000));
  const answer = { success: true, output: "x".repeat(100_000), error: null };
  store.transaction(() => {
    store.finish(id, { status: "succeeded", code: null, error: null, at: 2000, answer: JSON.stringify(answer), httpStatus: 200 });
    store.appendEvent(id, 1, "status", '{"status":"succeeded"}', 2000);
    store.appendEvent(id, 2, "result", '{"status":"succeeded","http_status":200}', 2000);
  });
  const events = store.events(id, 0);
  expect(events.map((e) => ({ ...e, data: JSON.parse(e.data) }))).toEqual([
    { seq: 1, type: "status", data: { status: "succeeded" }, time: 2000 },
    { seq: 2, type: "result", data: { status: "succeeded", http_status: 200, answer }, time: 2000 },
  ]);
  // The long output is in the database once: on the run row.
  const stored = store["db"].query("SELECT length(data) AS n FROM events WHERE run_id = ? AND type = 'result'").get(id) as { n: number };
  expect(stored.n).toBeLessThan(100);
  store.close();
});

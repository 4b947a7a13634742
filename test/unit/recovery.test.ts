// Recovery after a crash: runs left running are interrupted, their processes and workspaces go, queued runs stay (the stores' own contract is test/store/).
import { expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { RUN_COOKIE_VAR } from "../../src/proc/process-tree.ts";
import { enableSubreaper, track, untrack } from "../../src/proc/reaper.ts";
import { EventLog } from "../../src/runs/event-log.ts";
import { newRunId } from "../../src/runs/ids.ts";
import { recoverRuns } from "../../src/runs/recovery.ts";
import { workspacePrefix } from "../../src/runs/workspace.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { outcome, record, request } from "../store/fixtures.ts";
import { processesRunning } from "../support/procs.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const logger = createLogger({ level: "error", redactor: new Redactor(), sink: () => {} });

function fresh() {
  const file = path.join(tempDir("ocs-db-"), "runs.db");
  const store = new SqliteRunStore(file);
  return { file, store, events: new EventLog(store, new Redactor()) };
}

test("after a crash: running runs become interrupted, their processes die, their workspaces go, their streams end; queued runs stay queued", async () => {
  expect(enableSubreaper()).toBe(true);
  const dir = tempDir("ocs-crash-");
  const workDir = path.join(dir, "work");
  const { store, events } = fresh();
  const [running, queued, done] = [newRunId(), newRunId(), newRunId()];
  const queue = async (id: string, prompt: string) => {
    events.begin(id);
    await store.enqueue(record(id, Date.now()), request(prompt), null, events.make(id, [{ type: "status", status: "queued" }]), 100);
  };
  for (const id of [running, queued, done]) await queue(id, "p");
  const start = events.maker([{ type: "status", status: "running" }]);
  expect((await store.claim("r1", Date.now(), Date.now() + 30_000, () => false, start))?.record.id).toBe(running);
  expect((await store.claim("r1", Date.now(), Date.now() + 30_000, () => false, start))?.record.id).toBe(queued);
  // A run that was claimed and finished, and one that finished: only `running` runs are recovered.
  await store.finish(queued, { status: "succeeded", code: null, error: null, at: Date.now(), outcome: outcome(queued) }, []);
  const stillQueued = newRunId();
  await queue(stillQueued, "waits");
  await store.finish(done, { status: "succeeded", code: null, error: null, at: Date.now(), outcome: outcome(done) }, []);
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
  expect(await recoverRuns(store, fresher, { workDir, logger, replica: "r1" })).toEqual([running]);
  expect(processesRunning(leftover)).toEqual([]);
  expect([existsSync(workspace), existsSync(unrelated)]).toEqual([false, true]);
  expect(await store.get(running)).toMatchObject({ status: "interrupted", code: "interrupted", error: "The server stopped (crash, kill or restart) before the run finished (it was running)", replica: "r1" });
  expect((await store.get(running))?.outcome).toMatchObject({ success: false, code: "interrupted", run_id: running, request_id: `req-${running}` });
  expect((await store.events(running, 1)).map((e) => [e.seq, e.type, e.type === "status" ? e.status : null])).toEqual([
    [2, "status", "running"],
    [3, "status", "interrupted"],
    [4, "result", null],
  ]);
  expect([(await store.get(stillQueued))?.status, await store.queuePosition(stillQueued), (await store.get(done))?.status]).toEqual(["queued", 1, "succeeded"]);
  expect(await recoverRuns(store, fresher, { workDir, logger, replica: "r1" })).toEqual([]);
  await store.close();
});


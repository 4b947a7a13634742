// Workspaces: made ahead (spares renamed into place), moved aside at a run's end and deleted in the background, nothing left behind.
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { furnishHome, prepareRunHome } from "../../src/opencode/run-home.ts";
import { BASE_MARK, KEY_MARK } from "../../src/opencode/provider-keys.ts";
import { EventLog } from "../../src/runs/event-log.ts";
import { newRunId } from "../../src/runs/ids.ts";
import { recoverRuns } from "../../src/runs/recovery.ts";
import { SPARE_PREFIX, WorkspaceSpares } from "../../src/runs/workspace-spares.ts";
import { createWorkspace, removalsSettled, TRASH_PREFIX, workspaceRoot } from "../../src/runs/workspace.ts";
import { SqliteRunStore } from "../../src/store/sqlite-store.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const logger = createLogger({ level: "error", redactor: new Redactor(), sink: () => {} });
const files = { auth: '{"fake":{"type":"api","key":"k"}}', config: '{"share":"disabled"}' };
const access = { placeholder: "", providerBase: "" };
/** A runner without a key proxy: the home's shared part only, nothing written for a run. */
const plainFurnish = async (home: string) => {
  await furnishHome(home, files);
  return null;
};

/** Every path below `dir`, relative, sorted; with each file's size and every entry's mode. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((p) => {
      const st = statSync(path.join(dir, p));
      const mode = (st.mode & 0o777).toString(8);
      return st.isFile() ? `${p} = ${st.size} bytes, ${mode}` : `${p}/ ${mode}`;
    })
    .sort();
}

test("a workspace ends with one rename: its path is free at once, its tree deleted in the background, and shutdown can wait for that", async () => {
  const work = tempDir("ocs-ws-");
  const thread = newRunId();
  const ws = createWorkspace(work, thread, { git: true });
  writeFileSync(path.join(ws.dir, "big.txt"), "x".repeat(100_000));
  await ws[Symbol.asyncDispose]();
  expect(existsSync(ws.root)).toBe(false);
  // The thread's next run can start in the same path while the old tree is still being deleted.
  const next = createWorkspace(work, thread);
  expect(existsSync(next.dir)).toBe(true);
  await next.remove();
  await removalsSettled();
  expect(readdirSync(work)).toEqual([]);
});

test("a spare workspace is renamed into the thread's path and furnished like a fresh home; the pool refills, and stop deletes what is ready", async () => {
  const work = tempDir("ocs-spares-");
  const spares = new WorkspaceSpares({ workDir: work, size: 2, furnish: plainFurnish, onError: (err) => { throw err; } });
  spares.start();
  await waitFor(() => !spares.refilling && readdirSync(work).filter((e) => e.startsWith(SPARE_PREFIX)).length === 2, { what: "two spares" });
  const thread = newRunId();
  const ws = await spares.take(thread, { git: false });
  expect(ws.root).toBe(workspaceRoot(work, thread));
  prepareRunHome(ws.home, files, access);
  // The same home a run gets without a spare.
  const fresh = createWorkspace(tempDir("ocs-fresh-"), thread);
  prepareRunHome(fresh.home, files, access);
  expect(tree(ws.home)).toEqual(tree(fresh.home));
  expect(existsSync(ws.gitHome)).toBe(true);
  // Replaced when the run is done with it, not while it starts (its spawn would share the CPU with the mkdirs).
  expect([spares.refilling, readdirSync(work).filter((e) => e.startsWith(SPARE_PREFIX)).length]).toEqual([false, 1]);
  await ws[Symbol.asyncDispose]();
  // Not before the run's answer (the next turn of the event loop).
  expect(spares.refilling).toBe(false);
  await waitFor(() => !spares.refilling && readdirSync(work).filter((e) => e.startsWith(SPARE_PREFIX)).length === 2, { what: "the pool to refill" });
  // Runs that start while none is ready make their own (as spares are made); each spare taken is replaced when its run is done.
  const a = await spares.take(newRunId(), { git: false });
  const b = await spares.take(newRunId(), { git: false });
  const c = await spares.take(newRunId(), { git: false });
  expect([existsSync(c.dir), spares.refilling, readdirSync(work).filter((e) => e.startsWith(SPARE_PREFIX))]).toEqual([true, false, []]);
  for (const w of [a, b, c]) await w[Symbol.asyncDispose]();
  await waitFor(() => readdirSync(work).filter((e) => e.startsWith(SPARE_PREFIX)).length === 2, { what: "the pool to refill once the runs are done" });
  await fresh.remove();
  await spares.stop();
  await removalsSettled();
  expect(readdirSync(work)).toEqual([]);
});

test("with no spare ready, a run's workspace is made through the thread pool, furnished like a spare: the event loop keeps turning meanwhile", async () => {
  // Made with synchronous mkdirs and writes before, a slow disk held every request for ~10 ms (bench 1, 2026-12-04).
  const work = tempDir("ocs-spares-");
  const spares = new WorkspaceSpares({ workDir: work, size: 0, furnish: plainFurnish, onError: (err) => { throw err; } });
  spares.start();
  let turned = false;
  setImmediate(() => (turned = true));
  const thread = newRunId();
  const ws = await spares.take(thread, { git: false });
  expect(turned).toBe(true);
  expect(ws.root).toBe(workspaceRoot(work, thread));
  // Its home is what a spare's is: furnished the same way, into a directory of its own here.
  const spareHome = tempDir("ocs-spare-home-");
  await plainFurnish(spareHome);
  expect(tree(ws.root)).toEqual(["agent/ 700", "agent/home/ 700", ...tree(spareHome).map((p) => `agent/home/${p}`), "agent/work/ 700", "git-home/ 700"].sort());
  await ws[Symbol.asyncDispose]();
  await spares.stop();
  await removalsSettled();
  expect(readdirSync(work)).toEqual([]);
});

test("a spare furnished for a placeholder holds the run's files: prepareRunHome then writes nothing, and the home is a fresh one's", async () => {
  const work = tempDir("ocs-spares-");
  const ahead = { placeholder: "ocs-placeholder-0123", providerBase: "http://127.0.0.1:9" };
  const marked = { auth: `{"fake":{"type":"api","key":"${KEY_MARK}"}}`, config: `{"provider":{"fake":{"options":{"baseURL":"${BASE_MARK}/p/fake"}}}}` };
  const furnished = { token: "t", placeholder: ahead.placeholder };
  const spares = new WorkspaceSpares({ workDir: work, size: 1, furnish: async (home) => (await furnishHome(home, marked, ahead), furnished), onError: (err) => { throw err; } });
  spares.start();
  await waitFor(() => !spares.refilling && readdirSync(work).some((e) => e.startsWith(SPARE_PREFIX)), { what: "a spare" });
  const ws = await spares.take(newRunId(), { git: false });
  expect(ws.furnished).toEqual(furnished);
  const files = (readdirSync(ws.home, { recursive: true }) as string[]).map((p) => path.join(ws.home, p)).filter((p) => statSync(p).isFile());
  const before = files.map((f) => [f, statSync(f).ino, statSync(f).mtimeMs]);
  const env = prepareRunHome(ws.home, marked, ahead, true);
  expect(files.map((f) => [f, statSync(f).ino, statSync(f).mtimeMs])).toEqual(before);
  // The same files, modes and environment as a home made for the run on its path.
  const fresh = createWorkspace(tempDir("ocs-fresh-"), newRunId());
  const freshEnv = prepareRunHome(fresh.home, marked, ahead);
  expect(tree(ws.home)).toEqual(tree(fresh.home));
  const contents = (home: string) => ["auth.json", "config.json"].map((name) => (readdirSync(home, { recursive: true }) as string[]).filter((p) => p.endsWith(name)).map((p) => readFileSync(path.join(home, p), "utf8")));
  expect(contents(ws.home)).toEqual(contents(fresh.home));
  expect(contents(ws.home).flat().join()).toContain(ahead.placeholder);
  expect(Object.keys(env).sort()).toEqual(Object.keys(freshEnv).sort());
  expect(env.OPENCODE_CONFIG?.startsWith(ws.home)).toBe(true);
  // Furnished for another placeholder (a token opened already): the run's own files replace the read-only ones.
  prepareRunHome(ws.home, marked, { ...ahead, placeholder: "ocs-placeholder-9876" });
  expect(contents(ws.home).flat().join()).toContain("ocs-placeholder-9876");
  expect(tree(ws.home)).toEqual(tree(fresh.home));
  await ws[Symbol.asyncDispose]();
  await fresh.remove();
  await spares.stop();
  await removalsSettled();
  expect(readdirSync(work)).toEqual([]);
});

test("a thread path already taken (a dead run's directory): the run gets a clean workspace there and the spare stays one", async () => {
  const work = tempDir("ocs-spares-");
  const spares = new WorkspaceSpares({ workDir: work, size: 1, furnish: plainFurnish, onError: (err) => { throw err; } });
  spares.start();
  await waitFor(() => !spares.refilling && readdirSync(work).some((e) => e.startsWith(SPARE_PREFIX)), { what: "a spare" });
  const thread = newRunId();
  mkdirSync(path.join(workspaceRoot(work, thread), "agent", "work"), { recursive: true });
  writeFileSync(path.join(workspaceRoot(work, thread), "agent", "work", "stale.txt"), "from a dead run");
  const ws = await spares.take(thread, { git: false });
  expect(readdirSync(ws.dir)).toEqual([]);
  expect(readdirSync(work).filter((e) => e.startsWith(SPARE_PREFIX))).toHaveLength(1);
  await ws[Symbol.asyncDispose]();
  await spares.stop();
  await removalsSettled();
  expect(readdirSync(work)).toEqual([]);
});

test("a workspace that cannot be made ahead (WORK_DIR unwritable) is said once, and runs make their own", async () => {
  const work = path.join(tempDir("ocs-spares-"), "missing", "deeper");
  const errors: unknown[] = [];
  const spares = new WorkspaceSpares({ workDir: work, size: 1, furnish: plainFurnish, onError: (err) => errors.push(err) });
  spares.start();
  await waitFor(() => errors.length === 1, { what: "the failure to be told" });
  mkdirSync(work, { recursive: true });
  const ws = await spares.take(newRunId(), { git: false });
  expect(existsSync(ws.dir)).toBe(true);
  await ws.remove();
  await spares.stop();
  await removalsSettled();
  expect(errors).toHaveLength(1);
});

test("start-up removes what a killed process was still deleting, and its spares", async () => {
  const work = tempDir("ocs-trash-");
  for (const name of [`${TRASH_PREFIX}abc`, `${SPARE_PREFIX}def`]) mkdirSync(path.join(work, name, "agent", "home"), { recursive: true });
  const store = new SqliteRunStore(path.join(tempDir("ocs-db-"), "runs.db"));
  await recoverRuns(store, new EventLog(store, new Redactor()), { workDir: work, logger, replica: "r" });
  expect(readdirSync(work)).toEqual([`${SPARE_PREFIX}def`]);
  const spares = new WorkspaceSpares({ workDir: work, size: 1, furnish: plainFurnish, onError: (err) => { throw err; } });
  spares.start();
  await waitFor(() => !readdirSync(work).includes(`${SPARE_PREFIX}def`) && readdirSync(work).length === 1, { what: "the old spare replaced" });
  await spares.stop();
  await removalsSettled();
  expect(readdirSync(work)).toEqual([]);
  await store.close();
});

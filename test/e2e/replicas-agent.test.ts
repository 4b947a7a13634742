// Three replicas on one Postgres with what runs really do: the real opencode CLI against the fake LLM, and repository runs that share a branch.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { agentServerEnv, faultGate } from "../support/fake-opencode.ts";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { startGitServer, type GitServer } from "../support/git-server.ts";
import { readJson, type JsonObject } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { startPostgres, type PgCluster } from "../support/postgres.ts";
import { SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { readEvents } from "../support/sse.ts";
import { waitFor } from "../support/wait.ts";

const GIT_TOKEN = "replicas-git-token-0123456789";
let pg: PgCluster;
let llm: FakeLlm;
let gitServer: GitServer;
const spawned: ServerProcess[] = [];
beforeAll(async () => {
  pg = await startPostgres();
  llm = startFakeLlm();
  gitServer = startGitServer({ token: GIT_TOKEN });
});
afterAll(async () => {
  for (const s of spawned) await s.stop("SIGKILL");
  await gitServer?.stop();
  await llm?.stop();
  await pg?.stop();
});

async function replicas(env: (i: number, url: string) => Record<string, string>, opts: { waitForOpencode?: boolean } = {}): Promise<ServerProcess[]> {
  const url = await pg.createDatabase();
  const started = await Promise.all([0, 1, 2].map((i) => spawnServer(SOURCE_CMD, env(i, url), opts)));
  spawned.push(...started);
  return started;
}

const postJson = (base: string, path: string, body: unknown) =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await readJson(r) }));
const view = async (s: ServerProcess, id: string) => readJson(await fetch(`${s.url}/runs/${id}`));

test("the real opencode on three replicas: synchronous runs sent to each succeed, and another replica streams each run's events", async () => {
  const all = await replicas((i, url) => opencodeServerEnv(llm, { DATABASE_URL: url, REPLICA_ID: `r${i + 1}`, MAX_CONCURRENT_RUNS: "1", LOG_LEVEL: "info" }));
  const answers = await Promise.all(all.map((s, i) => postJson(s.url, "/run", { prompt: `run ${i}\n${fakeScript({ bash: `echo from-${i}` }, { text: "tool said {{tool_output}}" })}` })));
  for (const [i, a] of answers.entries()) expect(a).toMatchObject({ status: 200, body: { success: true, output: `tool said from-${i}`, exit_code: 0 } });
  const views = await Promise.all(answers.map((a) => view(all[0]!, String(a.body.run_id))));
  // One slot each and three runs at once: each replica ran one.
  expect(views.map((v) => v.replica).sort()).toEqual(["r1", "r2", "r3"]);
  for (const v of views) {
    const other = all.find((_, i) => `r${i + 1}` !== v.replica) as ServerProcess;
    const events = await readEvents(await fetch(`${other.url}/runs/${v.id}/events`));
    expect(events.at(-1)?.data).toMatchObject({ type: "result", status: "succeeded", answer: { success: true } });
    expect(events.filter((e) => e.data.type === "tool").length).toBeGreaterThan(0);
  }
}, 120_000);

test("runs on one repository branch never overlap across replicas: a second waits while other replicas have free slots, then runs after the first", async () => {
  await gitServer.createRepo("shared", { files: { "README.md": "# shared\n" } });
  const repository = gitServer.repoUrl("shared");
  const all = await replicas(
    (i, url) => agentServerEnv({ DATABASE_URL: url, REPLICA_ID: `r${i + 1}`, MAX_CONCURRENT_RUNS: "2", GIT_TOKEN, ALLOWED_REPO_PREFIXES: `${gitServer.url}/`, LOG_LEVEL: "info" }),
  );
  const gate = faultGate();
  const first = await postJson(all[0]!.url, "/runs", { prompt: `after ${gate.path} ok`, repository, branch: "feature" });
  expect(first.status).toBe(202);
  const firstId = String(first.body.id);
  await waitFor(async () => (await view(all[0]!, firstId)).status === "running", { what: "the first run on the branch to run" });
  const second = await postJson(all[1]!.url, "/runs", { prompt: "ok", repository, branch: "feature" });
  const secondId = String(second.body.id);
  // Another branch of the same repository, sent later, runs at once: slots are free, only the branch is busy.
  const other = await postJson(all[2]!.url, "/runs", { prompt: "ok", repository, branch: "other" });
  await waitFor(async () => (await view(all[2]!, String(other.body.id))).status === "succeeded", { what: "the other branch's run", timeoutMs: 30_000 });
  expect(await view(all[2]!, secondId)).toMatchObject({ status: "queued", queue_position: 1 });
  await gate.fire();
  const done = await waitFor(async () => {
    const v = await view(all[1]!, secondId);
    return v.status === "succeeded" ? v : undefined;
  }, { what: "the second run on the branch", timeoutMs: 30_000 });
  const firstDone = (await view(all[0]!, firstId)) as JsonObject;
  expect(firstDone.status).toBe("succeeded");
  expect(Date.parse(String(done.started_at))).toBeGreaterThanOrEqual(Date.parse(String(firstDone.finished_at)));
}, 120_000);

test("a follow-up continues on another replica: the session kept in Postgres reaches it, and the model gets the earlier messages", async () => {
  const first = opencodeServerEnv(llm, {});
  // Replicas share WORK_DIR's path (opencode keeps a session's directory), as a Deployment's pods do.
  const all = await replicas((i, url) => opencodeServerEnv(llm, { DATABASE_URL: url, REPLICA_ID: `f${i + 1}`, MAX_CONCURRENT_RUNS: "1", LOG_LEVEL: "info", WORK_DIR: first.WORK_DIR as string }));
  const [a, b, c] = all as [ServerProcess, ServerProcess, ServerProcess];
  const cmd = `sleep 351.${process.pid}`;
  const sleeper = async () => String((await postJson(a.url, "/runs", { prompt: fakeScript({ bash: cmd, timeout: 600_000 }) })).body.id);
  const running = async (ids: string[]) => {
    let views: JsonObject[] = [];
    await waitFor(async () => (views = await Promise.all(ids.map((id) => view(b, id)))).every((v) => v.status === "running"), { what: "sleepers running", timeoutMs: 60_000 });
    return views.map((v) => String(v.replica));
  };
  // Two replicas busy: the first run goes to the third; then that one is busy, one of the others is freed,
  // and the follow-up can only start there — another replica than the one that ran the session.
  const [s1, s2] = [await sleeper(), await sleeper()];
  const [freed] = await running([s1, s2]);
  const root = await postJson(c.url, "/run", { prompt: `Remember heron-77\n${fakeScript({ text: "Remembered heron-77." })}` });
  expect(root).toMatchObject({ status: 200, body: { success: true } });
  const rootReplica = String((await view(a, String(root.body.run_id))).replica);
  const s3 = await sleeper();
  expect(await running([s3])).toEqual([rootReplica]);
  await fetch(`${a.url}/runs/${s1}`, { method: "DELETE" });
  const marker = `across-${process.pid}`;
  const next = await postJson(b.url, "/run", { continue: root.body.run_id, prompt: `${marker}: which word?\n${fakeScript({ text: "heron-77" })}` });
  expect(next).toMatchObject({ status: 200, body: { success: true, output: "heron-77", parent_run_id: root.body.run_id, session_id: root.body.session_id } });
  expect((await view(c, String(next.body.run_id))).replica).toBe(freed);
  expect(freed).not.toBe(rootReplica);
  const chat = llm.requests.find((r) => JSON.stringify(r.body.messages?.at(-1)?.content ?? "").includes(marker))?.body.messages ?? [];
  expect(chat.filter((m) => m.role === "user" || m.role === "assistant").length).toBe(3);
  for (const id of [s2, s3]) await fetch(`${a.url}/runs/${id}`, { method: "DELETE" });
}, 180_000);

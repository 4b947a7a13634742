// A repository run's diff for the dashboard: GET /runs/{id}/diff (kept at the run's end, or the push: false patch), and links to the forge.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import path from "node:path";
import { shortRunId } from "../../src/runs/ids.ts";
import { json, testApp, type TestApp } from "../support/app.ts";
import { FakeRunner, type FakeBehaviour } from "../support/fake-runner.ts";
import { loggingGit, startGitServer, type GitServer } from "../support/git-server.ts";
import { readJson } from "../support/http.ts";

const TOKEN = "canary-diff-token-91c3";
let server: GitServer;
const spy = loggingGit();

beforeAll(async () => {
  server = startGitServer({ token: TOKEN });
  await server.createRepo("gamma", { files: { "README.md": "# gamma\n" } });
  await server.createRepo("empty", { empty: true });
});

afterAll(async () => {
  await server?.stop();
});

function app(behaviour: FakeBehaviour, env: Record<string, string> = {}): TestApp {
  return testApp({ runner: new FakeRunner(behaviour), allowedRepos: [`${server.url}/`], gitBinary: spy.bin, gitToken: TOKEN, secrets: [TOKEN], env });
}

const edit: FakeBehaviour = async (input) => {
  await Bun.write(path.join(input.cwd, "README.md"), "# gamma\nedited\n");
  await Bun.write(path.join(input.cwd, "NEW.md"), "hello\n");
  return { output: "edited" };
};

// Blob ids are git's (sha1 of "blob <size>\0<content>"): fixed by the content, so the whole text is known.
const EDIT_DIFF = [
  "diff --git a/NEW.md b/NEW.md",
  "new file mode 100644",
  "index 0000000..ce01362",
  "--- /dev/null",
  "+++ b/NEW.md",
  "@@ -0,0 +1 @@",
  "+hello",
  "diff --git a/README.md b/README.md",
  "index 7d5d550..31b9f1e 100644",
  "--- a/README.md",
  "+++ b/README.md",
  "@@ -1 +1,2 @@",
  " # gamma",
  "+edited",
  "",
].join("\n");

async function run(t: TestApp, body: Record<string, unknown>) {
  const res = await t.request("/run", json({ prompt: "Edit the readme\nand add a file", repository: server.repoUrl("gamma"), ...body }));
  expect(res.status).toBe(200);
  return String((await readJson(res)).run_id);
}

async function diffOf(t: TestApp, id: string) {
  const res = await t.request(`/runs/${id}/diff`);
  return { status: res.status, type: res.headers.get("content-type"), truncated: res.headers.get("x-diff-truncated"), text: await res.text() };
}

describe("GET /runs/{id}/diff", () => {
  test("a pushed run: the diff kept at its end, whole; the view says it has one", async () => {
    const t = app(edit);
    const id = await run(t, {});
    expect(await diffOf(t, id)).toEqual({ status: 200, type: "text/x-diff; charset=utf-8", truncated: "false", text: EDIT_DIFF });
    const view = await readJson(await t.request(`/runs/${id}`));
    // The loopback git server is no configured forge: no links.
    expect([view.diff, view.forge_links, view.title]).toEqual([true, null, "Edit the readme"]);
    await t.close();
  });

  test("a changed run whose diff was not kept (stored before diffs were): the view says none, rather than promising a 404", async () => {
    const t = app(edit);
    const id = await run(t, {});
    // Its end (and diff) are written just after its answer: the row is there to delete once they are.
    await t.runs.endsWritten();
    const db = new Database(path.join(t.dataDir, "opencode-server.db"));
    db.query("DELETE FROM diffs WHERE run_id = ?").run(id);
    db.close();
    const view = await readJson(await t.request(`/runs/${id}`));
    expect([(view.result as { changed: boolean }).changed, view.diff]).toEqual([true, false]);
    expect((await diffOf(t, id)).status).toBe(404);
    await t.close();
  });

  test("push: false: the answer's patch, the same text", async () => {
    const t = app(edit);
    const id = await run(t, { push: false });
    const view = await readJson(await t.request(`/runs/${id}`));
    expect((view.result as { patch: string }).patch).toBe(EDIT_DIFF);
    expect(await diffOf(t, id)).toEqual({ status: 200, type: "text/x-diff; charset=utf-8", truncated: "false", text: EDIT_DIFF });
    // Kept once: in the answer, not in the diffs table too.
    expect(await t.store.diff(id)).toBeNull();
    await t.close();
  });

  test("cut at MAX_OUTPUT_SIZE, and says so", async () => {
    const t = app(edit, { MAX_OUTPUT_SIZE: "100" });
    const id = await run(t, {});
    expect(await diffOf(t, id)).toEqual({ status: 200, type: "text/x-diff; charset=utf-8", truncated: "true", text: EDIT_DIFF.slice(0, 100) });
    await t.close();
  });

  test("a change far over MAX_OUTPUT_SIZE (a 20 MB binary): git writes it to a file, the first MAX_OUTPUT_SIZE bytes are kept", async () => {
    const big = new Uint8Array(20 * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
    const t = app(async (input) => {
      await Bun.write(path.join(input.cwd, "big.bin"), big);
      return { output: "wrote a big file" };
    }, { MAX_OUTPUT_SIZE: "64K" });
    const id = await run(t, {});
    const got = await diffOf(t, id);
    expect([got.status, got.truncated, Buffer.byteLength(got.text), got.text.slice(0, 50)]).toEqual([200, "true", 64 * 1024, "diff --git a/big.bin b/big.bin\nnew file mode 10064"]);
    expect(got.text).toContain("GIT binary patch");
    await t.close();
  });

  test("the first commit of an empty repository: its whole tree is the diff", async () => {
    const t = app(edit);
    const res = await t.request("/run", json({ prompt: "start the repository", repository: server.repoUrl("empty") }));
    const id = String((await readJson(res)).run_id);
    const got = await diffOf(t, id);
    expect([got.status, got.truncated]).toEqual([200, "false"]);
    expect(got.text).toStartWith("diff --git a/NEW.md b/NEW.md\nnew file mode 100644\n");
    expect(got.text).toContain("diff --git a/README.md b/README.md\nnew file mode 100644\n");
    await t.close();
  });

  test("404 for a run that changed nothing, a run without a repository, and no run", async () => {
    const t = app(() => ({ output: "looked only" }));
    const unchanged = await run(t, {});
    const plain = String((await readJson(await t.request("/run", json({ prompt: "hi" })))).run_id);
    for (const id of [unchanged, plain]) {
      expect((await readJson(await t.request(`/runs/${id}`))).diff).toBe(false);
      const res = await t.request(`/runs/${id}/diff`);
      expect([res.status, await readJson(res)]).toEqual([
        404,
        { success: false, code: "not_found", error: `Run ${id} has no diff: it is not a repository run, it has not ended, it changed nothing, or its diff was not kept`, request_id: expect.any(String) },
      ]);
    }
    const res = await t.request("/runs/00000000-0000-4000-8000-000000000000/diff");
    expect([res.status, (await readJson(res)).error]).toEqual([404, "No run 00000000-0000-4000-8000-000000000000"]);
    await t.close();
  });
});

describe("forge_links", () => {
  test("FORGES names the git server: a pushed run links its branch and commit on the forge's pages", async () => {
    const t = app(edit, { FORGES: `${server.url}/=gitea` });
    const id = await run(t, {});
    const view = await readJson(await t.request(`/runs/${id}`));
    const result = view.result as { branch: string; commit: string };
    expect(result.branch).toBe(`opencode/${shortRunId(id)}`);
    expect(view.forge_links).toEqual({ branch: `${server.url}/gamma/src/branch/opencode/${shortRunId(id)}`, commit: `${server.url}/gamma/commit/${result.commit}` });
    // Not pushed: nothing on the forge to link to.
    const local = await run(t, { push: false });
    expect((await readJson(await t.request(`/runs/${local}`))).forge_links).toBeNull();
    await t.close();
  });
});

// The repository mirror cache: a warm run transfers almost nothing, sees new commits, never stores a token,
// survives a broken mirror, shares one mirror between concurrent runs, and evicts least recently used mirrors.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { MirrorCache } from "../../src/git/mirror-cache.ts";
import { json, testApp, type TestApp } from "../support/app.ts";
import { FakeRunner, type FakeBehaviour } from "../support/fake-runner.ts";
import { git, startGitServer, type GitServer } from "../support/git-server.ts";
import { readJson } from "../support/http.ts";
import { tempDir } from "../support/temp.ts";

const TOKEN = "canary-mirror-token-91ab";
let server: GitServer;

beforeAll(async () => {
  server = startGitServer({ token: TOKEN });
  // Random content: a fetch of it really transfers bytes.
  const files: Record<string, string> = {};
  for (let i = 0; i < 200; i++) files[`src/f${i}.txt`] = `${randomBytes(1000).toString("hex")}\n`;
  await server.createRepo("cached", { private: true, files });
});

afterAll(async () => {
  await server?.stop();
});

function app(cache: MirrorCache | undefined, behaviour: FakeBehaviour = async (input) => (await Bun.write(path.join(input.cwd, `${Date.now()}.txt`), "x"), { output: "ok" })): TestApp {
  return testApp({ runner: new FakeRunner(behaviour), allowedRepos: [`${server.url}/`], gitBinary: Bun.which("git"), gitToken: TOKEN, secrets: [TOKEN], ...(cache ? { cache } : {}) });
}

async function run(t: TestApp, body: Record<string, unknown> = {}) {
  const res = await t.request("/run", json({ prompt: "work", repository: server.repoUrl("cached"), ...body }));
  return { status: res.status, body: await readJson(res) };
}

/** Bytes the git server sent for fetches/clones during `fn`. */
async function downloaded(fn: () => Promise<unknown>): Promise<number> {
  const before = server.requests.length;
  await fn();
  return server.requests.slice(before).filter((r) => r.service === "git-upload-pack" && r.method === "POST").reduce((sum, r) => sum + r.bytes, 0);
}

describe("with the cache", () => {
  const cacheDir = tempDir("ocs-mirrors-");
  const cache = new MirrorCache(cacheDir, 1024 ** 3);

  test("the first run fills the mirror; the next transfers almost nothing and still gets a normal, pushable clone", async () => {
    const t = app(cache);
    let first: Record<string, unknown> = {};
    const cold = await downloaded(async () => (first = (await run(t)).body));
    expect(first).toMatchObject({ success: true, pushed: true });
    expect(readdirSync(cacheDir)).toEqual([path.basename(cache.pathFor(server.repoUrl("cached")))]);
    let seen = "";
    const t2 = app(cache, async (input) => {
      seen = readFileSync(path.join(input.cwd, ".git", "config"), "utf8") + (await git(input.cwd, "log", "--oneline")).trim();
      await Bun.write(path.join(input.cwd, "warm.txt"), "warm\n");
      return { output: "ok" };
    });
    let second: Record<string, unknown> = {};
    const warm = await downloaded(async () => (second = (await run(t2)).body));
    expect(second).toMatchObject({ success: true, pushed: true, files_changed: ["warm.txt"] });
    expect(cold).toBeGreaterThan(100_000);
    expect(warm).toBeLessThan(cold / 20);
    // The agent sees the real remote, not the mirror.
    expect(seen).toContain(`url = ${server.repoUrl("cached")}`);
    expect(seen).not.toContain(cacheDir);
    expect(await server.git("cached", "show", `${second.branch}:warm.txt`)).toBe("warm\n");
  });

  test("commits pushed to the remote meanwhile reach the next run", async () => {
    const main = (await server.head("cached", "main")) as string;
    const tree = (await server.git("cached", "rev-parse", `${main}^{tree}`)).trim();
    const newer = (await server.git("cached", "commit-tree", "-p", main, "-m", "upstream change", tree)).trim();
    await server.git("cached", "update-ref", "refs/heads/main", newer, main);
    const { body } = await run(app(cache));
    expect(body.base_commit).toBe(newer);
  });

  test("no token is stored in the mirror", async () => {
    const mirror = cache.pathFor(server.repoUrl("cached"));
    const texts = readdirSync(mirror, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && !e.name.endsWith(".pack") && !e.name.endsWith(".idx"))
      .map((e) => readFileSync(path.join(e.parentPath, e.name), "latin1"));
    expect(texts.join("\n")).not.toContain(TOKEN);
    expect(texts.join("\n")).not.toContain("x-access-token");
    expect(await git(mirror, "config", "--list", "--local")).not.toContain("remote.");
  });

  test("a broken mirror is rebuilt and the run succeeds: a stale lock on a ref that must move, or damaged packs", async () => {
    const mirror = cache.pathFor(server.repoUrl("cached"));
    // A fetch killed mid-way leaves the ref's lock behind; the remote has moved on meanwhile.
    writeFileSync(path.join(mirror, "refs", "heads", "main.lock"), "");
    const main = (await server.head("cached", "main")) as string;
    const moved = (await server.git("cached", "commit-tree", "-p", main, "-m", "moved", (await server.git("cached", "rev-parse", `${main}^{tree}`)).trim())).trim();
    await server.git("cached", "update-ref", "refs/heads/main", moved, main);
    const first = await run(app(cache));
    expect(first.status).toBe(200);
    expect(first.body.base_commit).toBe(moved);
    expect(existsSync(path.join(mirror, "refs", "heads", "main.lock"))).toBe(false);
    // Truncated packs: the fetch believes it has everything, the clone finds objects missing.
    const packs = path.join(mirror, "objects", "pack");
    for (const file of readdirSync(packs)) truncateSync(path.join(packs, file), 64);
    const second = await run(app(cache));
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ success: true, pushed: true });
  });

  test("concurrent runs on one repository share the mirror safely", async () => {
    const results = await Promise.all([run(app(cache)), run(app(cache)), run(app(cache))]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(new Set(results.map((r) => r.body.branch)).size).toBe(3);
  });
});

describe("eviction and switching it off", () => {
  test("mirrors beyond CACHE_MAX_BYTES are evicted least recently used first, never while in use", async () => {
    const cacheDir = tempDir("ocs-mirrors-");
    const tiny = new MirrorCache(cacheDir, 1);
    const lease = tiny.acquire("https://example.invalid/a.git");
    await git(cacheDir, "init", "-q", "--bare", lease.mirror);
    expect(tiny.evict()).toMatchObject({ evicted: [] });
    expect(readdirSync(cacheDir)).toEqual([path.basename(lease.mirror)]);
    // Released: now over the limit and not in use, it goes.
    lease.release();
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  test("REPO_CACHE off: runs clone directly and nothing is cached", async () => {
    const { body } = await run(app(undefined));
    expect(body).toMatchObject({ success: true, pushed: true });
  });
});

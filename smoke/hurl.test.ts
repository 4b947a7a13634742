// Runs repo-tests.hurl (hurl from a cached Debian sid chroot) against the compiled binary, a fake LLM and a loopback git server.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { fakeScript64, startFakeLlm, type FakeLlm } from "../test/support/fake-llm.ts";
import { startGitServer, type GitServer } from "../test/support/git-server.ts";
import { opencodeServerEnv } from "../test/support/opencode-env.ts";
import { spawnServer, type ServerProcess } from "../test/support/process-server.ts";
import { tempDir } from "../test/support/temp.ts";
import { buildBinary } from "../scripts/build.ts";
import { CACHE_DIR, sh } from "./support/docker.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const MIRROR = process.env.OCS_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
// hurl is packaged in Debian sid (not in bookworm or trixie). Bump the revision when the recipe changes.
const CHROOT = path.join(CACHE_DIR, "hurl-sid-r1");
const API_KEY = "hurl-contract-key-0123456789";
const GIT_TOKEN = "hurl-contract-git-token-4242";

let llm: FakeLlm;
let git: GitServer;
let server: ServerProcess;

function report(line: string): void {
  process.stdout.write(`[hurl smoke] ${line}\n`);
}

/** A chroot with hurl installed, built once and kept in the cache directory. */
async function ensureHurl(): Promise<string> {
  if (existsSync(path.join(CHROOT, "usr/bin/hurl"))) return CHROOT;
  const build = mkdtempSync(`${CHROOT}.build-`);
  try {
    await sh(["debootstrap", "--variant=minbase", "sid", build, MIRROR]);
    copyFileSync("/etc/resolv.conf", path.join(build, "etc/resolv.conf"));
    // Mirrors that serve a dated snapshot carry an expired Valid-Until for sid.
    const apt = "apt-get -o Acquire::Check-Valid-Until=false";
    await sh(["chroot", build, "sh", "-c", `${apt} update -qq && DEBIAN_FRONTEND=noninteractive ${apt} install -y -qq --no-install-recommends hurl && ${apt} clean`]);
    renameSync(build, CHROOT);
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
  return CHROOT;
}

beforeAll(async () => {
  const started = performance.now();
  const chroot = await ensureHurl();
  report(`${(await sh(["chroot", chroot, "hurl", "--version"])).stdout.split("\n")[0]} ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const binary = path.join(tempDir("ocs-hurl-bin-"), "opencode-server");
  await buildBinary(binary);

  llm = startFakeLlm();
  git = startGitServer({ token: GIT_TOKEN });
  await git.createRepo("contract", { private: true, files: { "README.md": "# contract\n" } });
  const env = opencodeServerEnv(llm, {
    API_KEY,
    GIT_TOKEN,
    ALLOWED_REPO_PREFIXES: `${git.url}/`,
    MAX_REQUEST_SIZE: "2048",
    MAX_EXECUTION_TIME: "20s",
  });
  server = await spawnServer([binary], env, { cwd: tempDir("ocs-hurl-cwd-") });
});

afterAll(async () => {
  if (server) expect(await server.stop("SIGTERM")).toBe(0);
  await git?.stop();
  await llm?.stop();
});

/** One run of repo-tests.hurl against the server; the file must pass however often it runs. */
async function runHurl(pass: number) {
  const target = path.join(CHROOT, "tmp", `repo-tests-${process.pid}-${pass}.hurl`);
  copyFileSync(path.join(ROOT, "repo-tests.hurl"), target);
  const variables = {
    base_url: server.url,
    api_key: API_KEY,
    run_prompt: `Say hello ${fakeScript64({ text: "hello from the fake model" })}`,
    slow_prompt: `Take your time ${fakeScript64({ stall: true })}`,
    // 401 is not retried: opencode exits 1 in ~2 s.
    failing_prompt: `Fail ${fakeScript64({ status: 401, message: "Incorrect API key provided" })}`,
    repo_url: git.repoUrl("contract"),
    repo_prompt: `Append a line to HURL.md ${fakeScript64({ bash: "date +%s%N >> HURL.md" }, { text: "appended" })}`,
    missing_repo_url: git.repoUrl("missing"),
  };
  const started = performance.now();
  const result = await sh(
    ["chroot", CHROOT, "hurl", "--test", "--no-color", ...Object.entries(variables).flatMap(([k, v]) => ["--variable", `${k}=${v}`]), `/tmp/${path.basename(target)}`],
    { check: false },
  );
  rmSync(target, { force: true });
  report(`hurl --test (run ${pass}): exit ${result.code} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (result.code !== 0) process.stdout.write(`${result.stdout}\n${result.stderr}\n`);
  return result;
}

test("repo-tests.hurl passes against the compiled binary, twice in a row against the same server", async () => {
  for (const pass of [1, 2]) {
    const result = await runHurl(pass);
    expect(result.code).toBe(0);
    // hurl 7 warns about deprecated syntax (e.g. the includes predicate) on stderr.
    expect(result.stderr).not.toContain("deprecated");
    report(result.stderr.trim().split("\n").filter((l) => /Executed|Succeeded|Failed/.test(l)).join(" | "));
  }

  // What hurl saw pushed is really in the repository: one branch per run of the file, each two commits on top of main.
  const branches = (await git.git("contract", "for-each-ref", "--format=%(refname:short)", "refs/heads/opencode/")).trim().split("\n");
  expect(branches).toHaveLength(2);
  for (const branch of branches) expect((await git.git("contract", "rev-list", "--count", `main..${branch}`)).trim()).toBe("2");
  expect(server.lines.join("\n")).not.toContain(GIT_TOKEN);
});

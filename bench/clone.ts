// 4. A run's repository onto disk: cold clone (REPO_CACHE=false) vs a warm workspace from the mirror cache.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig, type Config } from "../src/config.ts";
import { parsePrefixes, resolveRepositoryUrl } from "../src/git/url-policy.ts";
import { prepareRepo } from "../src/runs/repo-clone.ts";
import type { RepoDeps } from "../src/runs/repository.ts";
import { createWorkspace } from "../src/runs/workspace.ts";
import { repoDeps } from "../src/compose.ts";
import { git, startGitServer, type GitServer, type Throttle } from "../test/support/git-server.ts";
import { generateRepo } from "./support/big-repo.ts";
import { median, ms, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

const TOKEN = "bench-git-token-0123456789";

interface Variant {
  label: string;
  /** Where workspaces and mirrors live. */
  base: string;
  throttle?: Throttle;
}

const NEARBY_HOST: Throttle = { latencyMs: 40, bytesPerSecond: 8 * 1024 * 1024 };

/** The unavoidable part: a local clone of the same repository from a path (checkout of every file) on `base`. */
async function checkoutFloor(bare: string, base: string, rounds: number): Promise<number> {
  const dir = tempDir("ocs-bench-floor-", base);
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const t = performance.now();
      await git(dir, "clone", "--quiet", "--no-hardlinks", "--single-branch", "--branch", "main", bare, `w${i}`);
      times.push(performance.now() - t);
      rmSync(path.join(dir, `w${i}`), { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return median(times);
}

/** Time to a workspace that is ready for the agent: ls-remote, clone (or mirror fetch + local clone), branch. */
async function prepare(deps: RepoDeps, config: Config, url: string, workRoot: string, runId: string): Promise<number> {
  const ws = createWorkspace(workRoot, runId, { git: true });
  try {
    const request = { url: resolveRepositoryUrl(url, parsePrefixes(config.git.allowedPrefixes)), branch: null, base: null, push: false, pullRequest: null };
    const t = performance.now();
    await prepareRepo(deps, request, ws, runId, new AbortController().signal);
    return performance.now() - t;
  } finally {
    // Removing 5,000 files is the same for both and not part of getting the repository.
    await ws.remove();
  }
}

/** Bytes the git server sent for upload-pack POSTs (fetch/clone data) during `fn`, and what `fn` returned. */
async function downloaded<T>(server: GitServer, fn: () => Promise<T>): Promise<[T, number]> {
  const before = server.requests.length;
  const value = await fn();
  return [value, server.requests.slice(before).filter((r) => r.service === "git-upload-pack" && r.method === "POST").reduce((sum, r) => sum + r.bytes, 0)];
}

const kib = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

export async function clone(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.quick ? 1 : 7;
  const tmp = os.tmpdir();
  const shm = existsSync("/dev/shm") ? "/dev/shm" : null;
  const variants: Variant[] = [{ label: "loopback", base: tmp }];
  if (!ctx.quick) {
    variants.push({ label: "40 ms per request, 8 MiB/s", base: tmp, throttle: NEARBY_HOST });
    if (shm) {
      variants.push({ label: "loopback", base: shm });
      variants.push({ label: "40 ms per request, 8 MiB/s", base: shm, throttle: NEARBY_HOST });
    }
  }
  const details = [
    "| WORK_DIR, DATA_DIR | remote | cold clone p50 | warm workspace p50 | ratio | cold download | warm download | local clone alone (checkout floor) |",
    "|---|---|---|---|---|---|---|---|",
  ];
  let headline = 0;
  let files = 0;
  for (const variant of variants) {
    const server = startGitServer({ token: TOKEN, ...(variant.throttle ? { throttle: variant.throttle } : {}) });
    const home = tempDir("ocs-bench-clone-", variant.base);
    try {
      const bare = await server.createRepo("big", { empty: true });
      await generateRepo(bare);
      files = Number((await git(bare, "ls-tree", "-r", "--name-only", "main")).trim().split("\n").length);
      // A working copy that moves the remote on between rounds, as a busy repository does.
      const pusher = path.join(home, "pusher");
      await git(home, "clone", "--quiet", bare, pusher);
      let revision = 0;
      const advance = async () => {
        await Bun.write(path.join(pusher, "CHANGELOG.md"), `revision ${++revision}\n`);
        await git(pusher, "add", "-A");
        await git(pusher, "commit", "--quiet", "-m", `revision ${revision}`);
        await git(pusher, "push", "--quiet", "origin", "main");
      };
      const base = { HOME: home, PATH: process.env.PATH ?? "/usr/bin:/bin", WORK_DIR: home, OPENCODE_AUTH_TOKEN: "unused-token-0123456789", GIT_TOKEN: TOKEN, ALLOWED_REPO_PREFIXES: `${server.url}/` };
      const coldConfig = loadConfig({ ...base, DATA_DIR: path.join(home, "cold"), REPO_CACHE: "false" });
      const warmConfig = loadConfig({ ...base, DATA_DIR: path.join(home, "warm") });
      const gitBin = Bun.which("git");
      const cold = repoDeps(coldConfig, gitBin);
      const warm = repoDeps(warmConfig, gitBin);
      const workRoot = path.join(home, "runs");
      mkdirSync(workRoot);
      const url = server.repoUrl("big");
      let n = 0;
      await prepare(warm, warmConfig, url, workRoot, `fill-${n++}`);
      const times = { cold: [] as number[], warm: [] as number[] };
      const bytes = { cold: [] as number[], warm: [] as number[] };
      const timed = async (deps: RepoDeps, config: Config, kind: "cold" | "warm", record: boolean) => {
        const [took, got] = await downloaded(server, () => prepare(deps, config, url, workRoot, `${kind}-${n++}`));
        if (!record) return;
        times[kind].push(took);
        bytes[kind].push(got);
      };
      for (let i = 0; i <= rounds; i++) {
        // The remote moves on before every round, so each warm run fetches a real change (untimed).
        await advance();
        await timed(cold, coldConfig, "cold", i > 0);
        await timed(warm, warmConfig, "warm", i > 0);
      }
      const coldMs = median(times.cold);
      const b = times.warm;
      const ratio = median(b) / coldMs;
      if (headline === 0) headline = ratio;
      const floor = await checkoutFloor(bare, variant.base, Math.max(3, rounds));
      const fs = variant.base === shm ? "tmpfs (/dev/shm)" : `temp dir (${variant.base})`;
      details.push(`| ${fs} | ${variant.label} | ${ms(coldMs)} | ${ms(median(b))} | ${ratio.toFixed(2)}× | ${kib(median(bytes.cold))} | ${kib(median(bytes.warm))} | ${ms(floor)} |`);
      ctx.log(`clone (${fs}, ${variant.label}): cold ${ms(coldMs)}, warm ${ms(median(b))}, ${ratio.toFixed(2)}×, checkout floor ${ms(floor)}`);
    } finally {
      await server.stop();
      rmSync(home, { recursive: true, force: true });
    }
  }
  details.push(
    "",
    `A generated repository of ${files} files and 200 commits (\`bench/support/big-repo.ts\`) on the loopback \`git http-backend\` server; before every round the remote gets a new commit, so each warm round fetches a real change. Cold is the default shallow clone (\`GIT_CLONE_DEPTH=1\`); warm is a fetch into the mirror plus a local clone from it (\`--shared\`-free, so the workspace stands alone). Both include the ls-remote and the branch creation a run does. ${rounds} alternating round(s) after 1 warm-up.`,
  );
  return {
    name: "4. Cold clone vs warm workspace from the mirror cache",
    target: "warm ≤ 0.2× cold",
    met: headline <= 0.2,
    summary: `${headline.toFixed(2)}× (temp dir, unthrottled loopback)`,
    details,
  };
}

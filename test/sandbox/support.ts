// A fake server layout (home, DATA_DIR with a SQLite store, mirror cache, WORK_DIR with two runs) and a runner for scripts in a sandbox.
import { Database } from "bun:sqlite";
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Sandbox, SandboxSpec } from "../../src/sandbox/index.ts";
import { tempDir } from "../support/temp.ts";

export const NOBODY = 65534;

export interface Layout {
  base: string;
  serverHome: string;
  dataDir: string;
  store: string;
  mirrorCache: string;
  workDir: string;
  /** This run's root, with work/, tmp/ and home/ made as the caller would. */
  root: string;
  work: string;
  sibling: string;
  /** A read-only file outside every hidden path (a config file). */
  config: string;
}

export function chownTree(p: string, uid: number): void {
  chownSync(p, uid, uid);
  if (!statSync(p).isDirectory()) return;
  for (const name of readdirSync(p)) chownTree(path.join(p, name), uid);
}

/**
 * Everything is world-readable and owned by `uid`, so what the agent cannot see it cannot see
 * because of the sandbox, not because of file permissions.
 */
export function makeLayout(uid = 0): Layout {
  const base = tempDir("ocs-sandbox-");
  const serverHome = path.join(base, "home");
  const dataDir = path.join(serverHome, ".local/share/opencode-server");
  const mirrorCache = path.join(base, "cache/mirrors");
  const workDir = path.join(base, "work");
  const root = path.join(workDir, "opencode-run-a");
  const sibling = path.join(workDir, "opencode-run-b");
  for (const dir of [dataDir, mirrorCache, path.join(root, "work"), path.join(root, "tmp"), path.join(root, "home"), sibling, path.join(base, "etc")]) {
    mkdirSync(dir, { recursive: true });
  }
  writeFileSync(path.join(serverHome, ".secret"), "server-home-secret\n");
  const store = path.join(dataDir, "runs.sqlite");
  const db = new Database(store);
  db.run("CREATE TABLE runs (id TEXT)");
  db.run("INSERT INTO runs VALUES ('run-a')");
  db.close();
  writeFileSync(path.join(mirrorCache, "repo.git"), "mirror\n");
  writeFileSync(path.join(sibling, "patch.diff"), "sibling secret\n");
  const config = path.join(base, "etc/opencode.json");
  writeFileSync(config, "{}\n");
  chownTree(base, uid);
  chmodSync(base, 0o755);
  return { base, serverHome, dataDir, store, mirrorCache, workDir, root, work: path.join(root, "work"), sibling, config };
}

/** What a caller would pass: the run root writable, the config readable, the server's places hidden. */
export function specFor(l: Layout, extra: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    root: l.root,
    cwd: l.work,
    readOnly: [l.config],
    hidden: [l.serverHome, l.dataDir, l.mirrorCache, l.workDir],
    env: { PATH: "/usr/bin:/bin", HOME: path.join(l.root, "home"), TMPDIR: path.join(l.root, "tmp") },
    ...extra,
  };
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

const AS_USER = (uid: number) => ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--"];

/** Spawns `argv` as `uid` (root: as is). */
export function spawnAs(uid: number, argv: readonly string[], opts: { env: Record<string, string>; cwd: string; stdin?: Blob }) {
  return Bun.spawn(uid === 0 ? [...argv] : [...AS_USER(uid), ...argv], {
    env: opts.env,
    cwd: opts.cwd,
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
}

export async function runScript(sandbox: Sandbox, script: string, spec: SandboxSpec, uid = 0): Promise<Ran> {
  const cmd = sandbox.command(["bash", "-c", script], spec);
  const proc = spawnAs(uid, cmd.argv, { env: cmd.env, cwd: cmd.cwd });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Bash that reports a path as absent, denied, listable or readable. */
export const LOOK = `look() { if [ ! -e "$1" ] && [ ! -L "$1" ]; then echo absent; elif [ -d "$1" ]; then ls -A "$1" >/dev/null 2>&1 && echo listable || echo denied; else cat "$1" >/dev/null 2>&1 && echo readable || echo denied; fi; }`;

/** Parses `key=value` lines into an object. */
export function fields(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

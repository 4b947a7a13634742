// A throwaway Postgres 15 cluster for tests: copied from a cached initdb'd template, on a free loopback port, always removed.
import { SQL, type Subprocess } from "bun";
import { chownSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { waitFor } from "./wait.ts";

const BIN = "/usr/lib/postgresql/15/bin";
const NOBODY = 65534;
const CACHE = process.env.OCS_CACHE_DIR ?? "/var/cache/opencode-server-ci";
const TEMPLATE = path.join(CACHE, "pg-template-15");

export interface PgCluster {
  /** The `postgres` database, as the superuser `postgres` (trust auth: any password is accepted). */
  readonly url: string;
  readonly port: number;
  /** A fresh, empty database on this cluster; its URL (with `password` in it, to check that it never leaks). */
  createDatabase(): Promise<string>;
  /** Stops the server at once (immediate shutdown, as a crash would), keeping its data: start() brings it back on the same port. */
  halt(): Promise<void>;
  start(): Promise<void>;
  /** halt() then start(). */
  restart(): Promise<void>;
  /** SIGKILL to the postmaster and its backends; start() recovers the data. */
  kill(): Promise<void>;
  /** Stops the server and removes its files; idempotent. */
  stop(): Promise<void>;
}

const live = new Map<string, { proc: Subprocess | null }>();

// A test run that is interrupted, or a file that forgets stop(), still leaves no server and no files behind.
process.on("exit", () => {
  for (const [dir, c] of live) {
    c.proc?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

/** initdb refuses to run as root: the cluster belongs to `nobody` when the tests run as root. */
function asPostgresUser(argv: string[]): string[] {
  if (process.getuid?.() !== 0) return argv;
  return ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...argv];
}

function ownDir(dir: string): void {
  if (process.getuid?.() === 0) chownSync(dir, NOBODY, NOBODY);
}

const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" };

async function run(argv: string[], what: string): Promise<void> {
  const proc = Bun.spawn(asPostgresUser(argv), { stdout: "pipe", stderr: "pipe", env: ENV });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${what} failed (exit ${code}): ${err || out}`);
}

/** initdb once per machine (it takes seconds); each cluster copies the result (milliseconds). */
async function template(): Promise<string> {
  if (existsSync(path.join(TEMPLATE, "PG_VERSION"))) return TEMPLATE;
  if (!existsSync(`${BIN}/initdb`)) throw new Error(`Postgres 15 is not installed (${BIN}/initdb missing): apt-get install postgresql`);
  mkdirSync(CACHE, { recursive: true, mode: 0o755 });
  const work = mkdtempSync(path.join(CACHE, "pg-template-tmp-"));
  ownDir(work);
  try {
    await run([`${BIN}/initdb`, "-D", path.join(work, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"], "initdb");
    // Two test files may build it at once: the rename is atomic, and the loser's copy is thrown away.
    try {
      renameSync(path.join(work, "data"), TEMPLATE);
    } catch (err) {
      if (!existsSync(path.join(TEMPLATE, "PG_VERSION"))) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return TEMPLATE;
}

async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return readFileSync(`/proc/${e}/stat`, "utf8").split(") ")[1]?.split(" ")[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

export async function startPostgres(): Promise<PgCluster> {
  const source = await template();
  const dir = mkdtempSync(path.join(os.tmpdir(), "ocs-pg-"));
  ownDir(dir);
  const data = path.join(dir, "data");
  const log = path.join(dir, "log");
  const entry: { proc: Subprocess | null } = { proc: null };
  live.set(dir, entry);
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  // cp -a keeps the owner (nobody) and the 0700 mode Postgres insists on.
  await run(["cp", "-a", source, data], "copy the template cluster");

  // The postmaster is our child (not pg_ctl's), so we reap it: where PID 1 reaps nothing, a zombie would
  // keep its postmaster.pid "alive" and block the next start. fsync=off is safe for halt() and kill() (the
  // OS keeps what was written); synchronous_commit=off would not be: an immediate stop loses commits.
  const start = async () => {
    const fd = openSync(log, "a");
    const options = ["-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"];
    const proc = Bun.spawn(asPostgresUser([`${BIN}/postgres`, "-D", data, ...options]), { stdout: fd, stderr: fd, env: ENV });
    closeSync(fd);
    entry.proc = proc;
    try {
      // pg_ctl -w's own test: the postmaster writes "ready" as the last line of its pid file.
      await waitFor(
        () => {
          if (proc.exitCode !== null) throw new Error(`postgres exited (${proc.exitCode})`);
          return existsSync(path.join(data, "postmaster.pid")) && readFileSync(path.join(data, "postmaster.pid"), "utf8").includes("ready");
        },
        { what: "postgres to accept connections", timeoutMs: 30_000, intervalMs: 10 },
      );
    } catch (err) {
      const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-8).join("\n") : "";
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tail}`);
    }
  };
  /** SIGQUIT: immediate shutdown (backends stop at once, no checkpoint); the postmaster reaps them before it exits. */
  const halt = async () => {
    const proc = entry.proc;
    entry.proc = null;
    if (!proc || proc.exitCode !== null) return;
    proc.kill("SIGQUIT");
    await proc.exited;
  };
  try {
    await start();
  } catch (err) {
    await halt().catch(() => {});
    live.delete(dir);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  let databases = 0;
  return {
    url,
    port,
    async createDatabase() {
      const name = `t_${process.pid}_${++databases}_${Math.random().toString(36).slice(2, 8)}`;
      const admin = new SQL(url, { max: 1 });
      try {
        await admin.unsafe(`CREATE DATABASE ${name}`);
      } finally {
        await admin.close();
      }
      return `postgres://postgres:password@127.0.0.1:${port}/${name}`;
    },
    halt,
    start,
    async restart() {
      await halt();
      await start();
    },
    async kill() {
      const proc = entry.proc;
      if (!proc) return;
      // The whole server at once (as the OOM killer or a lost node would): backends first, then the postmaster.
      for (const child of childrenOf(proc.pid)) process.kill(child, "SIGKILL");
      proc.kill("SIGKILL");
      await proc.exited;
      entry.proc = null;
      // Orphaned backends may linger as zombies that answer kill(pid, 0): these would block the next start.
      for (const lock of [path.join(data, "postmaster.pid"), path.join(dir, `.s.PGSQL.${port}.lock`), path.join(dir, `.s.PGSQL.${port}`)]) rmSync(lock, { force: true });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt();
      live.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Until exactly `n` connections to this database have run LISTEN and sit idle (subscribed): a watch is live. */
export async function listening(url: string, n: number): Promise<void> {
  const admin = new SQL(url, { max: 1 });
  try {
    await waitFor(
      async () => {
        const [row] = (await admin`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle' AND query ILIKE 'LISTEN%'`) as { n: string }[];
        return Number(row?.n) === n;
      },
      { what: `${n} listening connections` },
    );
  } finally {
    await admin.close();
  }
}

// Killing a run's processes: descendants, detached (setsid/nohup) escapes found by cookie, and reaping of zombies.
import { beforeAll, beforeEach, expect, test } from "bun:test";
import { findRunProcesses, killProcessTree, RUN_COOKIE_VAR } from "../../src/proc/process-tree.ts";
import { childrenOf, ownChildren } from "../../src/proc/procfs.ts";
import { enableSubreaper, track, untrack } from "../../src/proc/reaper.ts";
import { processesRunning, zombieChildren } from "../support/procs.ts";
import { waitFor } from "../support/wait.ts";

beforeAll(() => {
  expect(enableSubreaper()).toBe(true);
});

// This file may not be the first its test process runs (a lane of `bun run test`, a `bun test --parallel` worker): zombies earlier files left are not its own.
let earlierZombies = new Set<number>();
beforeEach(() => {
  earlierZombies = new Set(zombieChildren().map((z) => z.pid));
});
const newZombies = () => zombieChildren().filter((z) => !earlierZombies.has(z.pid));

// Unique per test process, so leftovers of an earlier (failed) run are never mistaken for ours.
const sleep = (n: number) => `sleep ${n}.${process.pid}`;
const alive = (...ns: number[]) => ns.flatMap((n) => processesRunning(sleep(n)));
const cookie = (id: string) => `${RUN_COOKIE_VAR}=${id}`;

function spawnTree(script: string, runId: string) {
  const proc = Bun.spawn(["bash", "-c", script], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", [RUN_COOKIE_VAR]: runId },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
    detached: true,
  });
  track(proc.pid);
  void proc.exited.then(() => untrack(proc.pid));
  return proc;
}

test("a running tree — child, setsid child, nohup child — is gone after killProcessTree, nothing left as a zombie", async () => {
  const id = crypto.randomUUID();
  const proc = spawnTree(`setsid ${sleep(331)} & nohup ${sleep(332)} >/dev/null 2>&1 & ${sleep(333)}`, id);
  await waitFor(() => alive(331, 332, 333).length === 3, { what: "three sleeps" });
  expect(findRunProcesses({ rootPid: proc.pid, cookie: cookie(id) }).length).toBe(4);
  expect(await killProcessTree({ rootPid: proc.pid, cookie: cookie(id) })).toEqual([]);
  await proc.exited;
  expect(alive(331, 332, 333)).toEqual([]);
  expect(newZombies()).toEqual([]);
});

test("after a normal exit, a backgrounded leftover is found by its cookie alone and reaped", async () => {
  const id = crypto.randomUUID();
  const proc = spawnTree(`nohup ${sleep(334)} >/dev/null 2>&1 & exit 0`, id);
  await proc.exited;
  await waitFor(() => alive(334).length === 1, { what: "orphaned sleep" });
  // Orphans are adopted by this process (the subreaper), not by PID 1.
  expect(alive(334)[0]?.ppid).toBe(process.pid);
  expect(await killProcessTree({ cookie: cookie(id) })).toEqual([]);
  expect(alive(334)).toEqual([]);
  expect(newZombies()).toEqual([]);
});

test("a descendant that dropped the cookie (env -i) still dies with its parent's tree", async () => {
  const id = crypto.randomUUID();
  const proc = spawnTree(`env -i /bin/${sleep(335)} & ${sleep(336)}`, id);
  await waitFor(() => alive(335, 336).length === 2, { what: "sleeps" });
  expect(await killProcessTree({ rootPid: proc.pid, cookie: cookie(id) })).toEqual([]);
  await proc.exited;
  expect(alive(335, 336)).toEqual([]);
  expect(newZombies()).toEqual([]);
});

test("a loop spawning detached children is frozen and killed within bounded rounds", async () => {
  const id = crypto.randomUUID();
  const proc = spawnTree(`for i in $(seq 1 20); do (${sleep(337)} &) ; done; ${sleep(338)}`, id);
  await waitFor(() => alive(338).length === 1, { what: "loop" });
  expect(await killProcessTree({ rootPid: proc.pid, cookie: cookie(id) })).toEqual([]);
  await proc.exited;
  expect(alive(337, 338)).toEqual([]);
  expect(newZombies()).toEqual([]);
});

test("other runs' processes are left alone", async () => {
  const mine = crypto.randomUUID();
  const other = crypto.randomUUID();
  const a = spawnTree(sleep(339), mine);
  const b = spawnTree(sleep(340), other);
  await waitFor(() => alive(339, 340).length === 2, { what: "sleeps" });
  await killProcessTree({ rootPid: a.pid, cookie: cookie(mine) });
  expect(alive(339)).toEqual([]);
  expect(alive(340)).toHaveLength(1);
  await killProcessTree({ rootPid: b.pid, cookie: cookie(other) });
  await Promise.all([a.exited, b.exited]);
  expect(alive(340)).toEqual([]);
});

test("our own children — spawned ones and orphans re-parented to us — are all in the leader thread's list, as in every thread's", async () => {
  const id = crypto.randomUUID();
  // Threads busy meanwhile (the fs pool, the HTTP client) must not hold any of them.
  const busy = Promise.all([Bun.file("/proc/self/status").text(), fetch("http://127.0.0.1:9/").catch(() => null)]);
  const direct = spawnTree(`${sleep(341)}`, id);
  const parent = spawnTree(`nohup ${sleep(342)} >/dev/null 2>&1 & setsid ${sleep(343)} & exit 0`, id);
  await parent.exited;
  await busy;
  await waitFor(() => alive(341, 342, 343).length === 3, { what: "three sleeps" });
  const orphans = alive(342, 343).map((p) => p.pid);
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const mine = sorted(ownChildren());
  expect(mine).toEqual(sorted(childrenOf(process.pid)));
  expect({ direct: mine.includes(direct.pid), orphans: orphans.map((p) => mine.includes(p)) }).toEqual({ direct: true, orphans: [true, true] });
  expect(await killProcessTree({ rootPid: direct.pid, cookie: cookie(id) })).toEqual([]);
  expect(alive(341, 342, 343)).toEqual([]);
});

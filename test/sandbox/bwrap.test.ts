// bubblewrap for real, as root and as nobody: what the agent sees, what it may write, and that nothing it starts outlives it.
import { describe, expect, test } from "bun:test";
import { existsSync, symlinkSync } from "node:fs";
import path from "node:path";
import { createSandbox, DEFAULT_SYSTEM_PATHS, SandboxSpecError } from "../../src/sandbox/index.ts";
import { processesRunning } from "../support/procs.ts";
import { waitFor } from "../support/wait.ts";
import { fields, LOOK, makeLayout, NOBODY, runScript, spawnAs, specFor } from "./support.ts";

const sandbox = createSandbox({ mode: "bwrap", bwrapPath: "/usr/bin/bwrap" });
const ZERO_CAPS = "0000000000000000";
/** Unique per test process and user, so an earlier run's leftovers are never mistaken for these. */
const sleepArg = (n: number, uid: number) => `${n}.${process.pid}${uid}`;
const running = (...commands: string[]) => commands.flatMap((c) => processesRunning(c));

/** What / holds inside: the top-level names of the system paths present here, plus what bwrap makes. */
function expectedRootListing(): string {
  const names = new Set(["dev", "proc", "tmp", "var"]);
  for (const p of DEFAULT_SYSTEM_PATHS) if (existsSync(p)) names.add(p.split("/")[1] as string);
  return [...names].sort().join(" ");
}

for (const [who, uid] of [["root", 0], ["nobody", NOBODY]] as const) {
  describe(`bwrap as ${who}`, () => {
    test("the server's places do not exist, the run root is writable, the system is read-only, /tmp and /proc are its own, no capabilities", async () => {
      const l = makeLayout(uid);
      const marker = `ocs-sandbox-marker-${crypto.randomUUID()}`;
      const script = `${LOOK}
        echo home=$(look ${l.serverHome}); echo data=$(look ${l.dataDir}); echo store=$(look ${l.store})
        echo mirror=$(look ${l.mirrorCache}); echo sibling=$(look ${l.sibling})
        echo workdir=$(ls -A ${l.workDir}); echo base=$(ls -A ${l.base} | sort | tr '\\n' ' ')
        echo config=$(cat ${l.config}); echo config_write=$(echo x 2>/dev/null > ${l.config} && echo written || echo refused)
        echo root=$(echo ok > ${l.work}/f && cat ${l.work}/f)
        for p in /usr/x /etc/x /x /var/x; do echo "write$p=$(touch $p 2>/dev/null && echo written || echo refused)"; done
        echo tmp=$(ls -A /tmp); echo vartmp=$(ls -A /var/tmp)
        echo tmp_write=$(echo x > /tmp/${marker} && echo x > /var/tmp/${marker} && echo ok)
        echo listing=$(ls -A / | sort | tr '\\n' ' ')
        comms=""; for d in /proc/[0-9]*; do comms="$comms $(cat $d/comm 2>/dev/null)"; done; echo comms=$comms
        echo pid1=$(cat /proc/1/comm)
        echo capeff=$(grep CapEff /proc/self/status | cut -f2); echo capprm=$(grep CapPrm /proc/self/status | cut -f2)
        echo uid=$(id -u)`;
      const r = await runScript(sandbox, script, specFor(l), uid);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      const f = fields(r.stdout);
      // Everything in /proc is the sandbox's own: bwrap as PID 1, this script, and what it ran to read /proc.
      const comms = new Set((f.comms ?? "").split(" ").filter(Boolean));
      expect([...comms].filter((c) => !["bwrap", "bash", "cat"].includes(c))).toEqual([]);
      delete f.comms;
      expect(f).toEqual({
        home: "absent",
        data: "absent",
        store: "absent",
        mirror: "absent",
        sibling: "absent",
        // Only the path down to this run's root exists.
        workdir: path.basename(l.root),
        base: "etc work",
        config: "{}",
        config_write: "refused",
        root: "ok",
        "write/usr/x": "refused",
        "write/etc/x": "refused",
        "write/x": "refused",
        "write/var/x": "refused",
        tmp: path.basename(l.base),
        vartmp: "",
        tmp_write: "ok",
        listing: expectedRootListing(),
        pid1: "bwrap",
        capeff: ZERO_CAPS,
        capprm: ZERO_CAPS,
        uid: String(uid),
      });
      // The private /tmp and /var/tmp went with the sandbox.
      expect([existsSync(`/tmp/${marker}`), existsSync(`/var/tmp/${marker}`)]).toEqual([false, false]);
    });

    test("setsid -f and nohup … & do not outlive the sandbox's normal exit", async () => {
      const l = makeLayout(uid);
      const [a, b] = [sleepArg(300, uid), sleepArg(301, uid)];
      // Exit only once both are really running, so their absence afterwards means something.
      const script = `setsid -f sleep ${a}; nohup sleep ${b} >/dev/null 2>&1 &
        until pgrep -f "^sleep ${a}" >/dev/null && pgrep -f "^sleep ${b}" >/dev/null; do sleep 0.01; done; echo started`;
      const r = await runScript(sandbox, script, specFor(l), uid);
      expect(r).toEqual({ code: 0, stdout: "started\n", stderr: "" });
      await waitFor(() => running(`sleep ${a}`, `sleep ${b}`).length === 0, { timeoutMs: 5000, what: "leftovers gone" });
    });

    test("SIGKILL to bwrap, or to bwrap's parent, leaves no survivor", async () => {
      const l = makeLayout(uid);
      const spec = specFor(l);
      const commands = (base: number) => [sleepArg(base, uid), sleepArg(base + 1, uid), sleepArg(base + 2, uid)].map((s) => `sleep ${s}`);
      const script = (base: number) => {
        const [a, b, c] = commands(base);
        return `setsid -f ${a}; nohup ${b} >/dev/null 2>&1 & exec ${c}`;
      };

      const direct = sandbox.command(["bash", "-c", script(310)], spec);
      const proc = spawnAs(uid, direct.argv, { env: direct.env, cwd: direct.cwd });
      await waitFor(() => running(...commands(310)).length === 3, { what: "three sleeps in the sandbox" });
      proc.kill("SIGKILL");
      await proc.exited;
      await waitFor(() => running(...commands(310)).length === 0, { timeoutMs: 5000, what: "sandbox gone after SIGKILL" });

      // --die-with-parent: a crashed server takes its sandboxes along.
      const nested = sandbox.command(["bash", "-c", script(320)], spec);
      const parent = spawnAs(uid, ["bash", "-c", '"$@" & wait', "bash", ...nested.argv], { env: nested.env, cwd: nested.cwd });
      await waitFor(() => running(...commands(320)).length === 3, { what: "three sleeps under a parent" });
      parent.kill("SIGKILL");
      await parent.exited;
      await waitFor(() => running(...commands(320)).length === 0, { timeoutMs: 5000, what: "sandbox gone with its parent" });
    });
  });
}

test("network none: only a loopback that is down", async () => {
  const l = makeLayout();
  const r = await runScript(sandbox, "ls /sys/class/net 2>/dev/null; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '", specFor(l, { network: "none" }));
  expect(r).toEqual({ code: 0, stdout: "lo\n", stderr: "" });
});

test("a hidden path inside an exposed tree is masked: empty, unlistable, read-only; a hidden file cannot be opened", async () => {
  const l = makeLayout();
  // /etc is exposed as a whole; hide a directory and a file inside it.
  const r = await runScript(sandbox, `${LOOK}
 echo dir=$(look /etc/apt) file=$(look /etc/hostname) write=$(touch /etc/apt/x 2>/dev/null && echo written || echo refused) other=$(look /etc/passwd)`, specFor(l, { hidden: ["/etc/apt", "/etc/hostname"] }));
  expect(r).toEqual({ code: 0, stdout: "dir=denied file=denied write=refused other=readable\n", stderr: "" });
});

test("a root spelled through a symlink works under that spelling too (the agent's HOME and TMPDIR use it)", async () => {
  const l = makeLayout();
  const link = path.join(l.base, "link");
  symlinkSync(l.workDir, link);
  const spelled = path.join(link, path.basename(l.root));
  const r = await runScript(sandbox, `cd ${spelled}/work && echo ok > f && cat ${l.work}/f && echo tmp > $TMPDIR/t && cat ${l.root}/tmp/t`, specFor(l, { root: spelled, cwd: path.join(spelled, "work"), env: { PATH: "/usr/bin:/bin", TMPDIR: path.join(spelled, "tmp") } }));
  expect(r).toEqual({ code: 0, stdout: "ok\ntmp\n", stderr: "" });
});

test("a spec that cannot be honoured is refused, never weakened", () => {
  const l = makeLayout();
  const specs = [
    specFor(l, { root: "relative/root" }),
    specFor(l, { readOnly: ["/nonexistent-ocs-path"] }),
    specFor(l, { hidden: [l.root] }),
    specFor(l, { hidden: [l.config] }),
    specFor(l, { hidden: ["/usr"] }),
  ];
  const outcomes = specs.map((spec) => {
    try {
      sandbox.command(["true"], spec);
      return "accepted";
    } catch (err) {
      return err instanceof SandboxSpecError ? err.message : String(err);
    }
  });
  expect(outcomes).toEqual([
    "root must be an absolute path: relative/root",
    "readOnly path does not exist: /nonexistent-ocs-path",
    `the run root itself is hidden: ${l.root}`,
    `a path is both hidden and read-only: ${l.config}`,
    "a path is both hidden and exposed: /usr",
  ]);
});

test("the argv: namespaces first, mounts parents-before-children, the root remounted read-only last", () => {
  const l = makeLayout();
  const small = createSandbox({ mode: "bwrap", bwrapPath: "/usr/bin/bwrap" }, { systemPaths: ["/usr", "/bin"] });
  const cmd = small.command(["opencode", "run"], specFor(l, { hidden: [l.workDir], tmpSizeBytes: 1024 }));
  expect(cmd).toEqual({
    argv: [
      "/usr/bin/bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
      "--ro-bind", "/usr", "/usr",
      "--symlink", "usr/bin", "/bin",
      "--dev", "/dev",
      "--proc", "/proc",
      "--size", "1024", "--perms", "1777", "--tmpfs", "/tmp",
      "--size", "1024", "--perms", "1777", "--tmpfs", "/var/tmp",
      "--ro-bind", l.config, l.config,
      "--bind", l.root, l.root,
      "--remount-ro", "/",
      "--chdir", l.work,
      "--", "opencode", "run",
    ],
    env: specFor(l).env,
    cwd: l.work,
    killsTree: true,
  });
});

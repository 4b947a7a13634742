// The Landlock fallback for real, as root and as nobody, from source and from a compiled executable.
import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync } from "node:fs";
import path from "node:path";
import { BUILD_FLAGS } from "../../scripts/build.ts";
import { createSandbox, LANDLOCK_EXEC_SUBCOMMAND, landlockExecPrefix, probeLandlock, type Sandbox } from "../../src/sandbox/index.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";
import { fields, LOOK, makeLayout, NOBODY, runScript, spawnAs, specFor, type Layout } from "./support.ts";

const probe = probeLandlock();
if (!probe.ok) throw new Error(`these tests need Landlock: ${probe.error}`);
const support = probe.support;
const sandbox = createSandbox({ mode: "landlock", landlock: support });
const off = createSandbox({ mode: "off" });
const ZERO_CAPS = "0000000000000000";

function readText(file: string): string {
  try {
    return readFileSync(file, "latin1");
  } catch {
    return "";
  }
}

function visibilityScript(l: Layout): string {
  return `${LOOK}
    echo home=$(look ${l.serverHome}); echo data=$(look ${l.dataDir}); echo store=$(look ${l.store})
    echo mirror=$(look ${l.mirrorCache}); echo sibling=$(look ${l.sibling}); echo workdir=$(look ${l.workDir})
    echo config=$(cat ${l.config}); echo config_write=$(echo x 2>/dev/null > ${l.config} && echo written || echo refused)
    echo root=$(echo ok > ${l.work}/f && mkdir -p ${l.work}/d && mv ${l.work}/f ${l.work}/d/f && cat ${l.work}/d/f)
    for p in /usr/x /etc/x /x /tmp/x /var/tmp/x; do echo "write$p=$(touch $p 2>/dev/null && echo written || echo refused)"; done
    echo listing=$(look /)
    echo capeff=$(grep CapEff /proc/self/status | cut -f2); echo capprm=$(grep CapPrm /proc/self/status | cut -f2)
    echo capbnd=$(grep CapBnd /proc/self/status | cut -f2)
    echo nnp=$(grep NoNewPrivs /proc/self/status | cut -f2); echo uid=$(id -u)`;
}

const EXPECTED_VISIBILITY = {
  // stat still works under Landlock, so these exist but cannot be listed or read.
  home: "denied",
  data: "denied",
  store: "denied",
  mirror: "denied",
  sibling: "denied",
  workdir: "denied",
  config: "{}",
  config_write: "refused",
  // A rename across directories needs LANDLOCK_ACCESS_FS_REFER (ABI ≥ 2).
  root: "ok",
  "write/usr/x": "refused",
  "write/etc/x": "refused",
  "write/x": "refused",
  "write/tmp/x": "refused",
  "write/var/tmp/x": "refused",
  listing: "denied",
  capeff: ZERO_CAPS,
  capprm: ZERO_CAPS,
  nnp: "1",
};

/** The bounding set is emptied only for root: for anyone else it grants nothing and stays as inherited. */
const HOST_CAPBND = /CapBnd:\t(\w+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
const expectedFor = (uid: number) => ({ code: 0, stderr: "", ...EXPECTED_VISIBILITY, capbnd: uid === 0 ? ZERO_CAPS : HOST_CAPBND, uid: String(uid) });

for (const [who, uid] of [["root", 0], ["nobody", NOBODY]] as const) {
  describe(`landlock as ${who}`, () => {
    test("the server's places cannot be read, the run root is writable, the system is read-only, no capabilities", async () => {
      const l = makeLayout(uid);
      const r = await runScript(sandbox, visibilityScript(l), specFor(l), uid);
      expect({ code: r.code, stderr: r.stderr, ...fields(r.stdout) }).toEqual(expectedFor(uid));
    });

    test("a process outside the domain, same user, can be neither signalled nor inspected (but can without the sandbox)", async () => {
      const l = makeLayout(uid);
      const outside = spawnAs(uid, ["sleep", `330.${process.pid}${uid}`], { env: { PATH: "/usr/bin:/bin", OUTSIDE_SECRET: "s3cret" }, cwd: "/" });
      try {
        // setpriv runs as root until it becomes sleep: only then is the process nobody's.
        await waitFor(() => readText(`/proc/${outside.pid}/cmdline`).startsWith("sleep"), { what: "the outside sleep" });
        const script = `echo signal=$(kill -0 ${outside.pid} 2>/dev/null && echo sent || echo refused)
          echo environ=$(grep -c OUTSIDE_SECRET /proc/${outside.pid}/environ 2>/dev/null || echo unreadable)`;
        const inside = await runScript(sandbox, script, specFor(l), uid);
        const control = await runScript(off, script, specFor(l), uid);
        expect([inside, control]).toEqual([
          { code: 0, stdout: "signal=refused\nenviron=unreadable\n", stderr: "" },
          { code: 0, stdout: "signal=sent\nenviron=1\n", stderr: "" },
        ]);
      } finally {
        outside.kill("SIGKILL");
        await outside.exited;
      }
    });
  });
}

test("the command: the helper from /, with the policy, then the agent; no PID namespace to kill the tree", () => {
  const l = makeLayout();
  const cmd = sandbox.command(["opencode", "run"], specFor(l));
  const policy: unknown = JSON.parse(cmd.argv[landlockExecPrefix().length] as string);
  expect({ ...cmd, argv: cmd.argv.filter((_, i) => i !== landlockExecPrefix().length) }).toEqual({
    argv: [...landlockExecPrefix(), "--", "opencode", "run"],
    env: specFor(l).env,
    cwd: "/",
    killsTree: false,
  });
  expect(policy).toMatchObject({ v: 1, abi: support.abi, handledNet: 0, scoped: support.scoping ? 3 : 0, cwd: l.work });
});

test("a bad policy or a missing program fails closed with 126 / 127, never running anything unrestricted", async () => {
  const prefix = landlockExecPrefix();
  const run = async (args: string[]) => {
    const p = Bun.spawn([...prefix, ...args], { stdout: "pipe", stderr: "pipe", cwd: "/" });
    return { code: await p.exited, stdout: await new Response(p.stdout).text(), stderr: (await new Response(p.stderr).text()).trim() };
  };
  const l = makeLayout();
  const good = JSON.parse(sandbox.command(["true"], specFor(l)).argv[prefix.length] as string) as { rules: { path: string }[] };
  const vanished = JSON.stringify({ ...good, rules: [...good.rules, { path: path.join(l.base, "gone"), access: 1 }] });
  expect(await Promise.all([run(["{}", "--", "echo", "unrestricted"]), run([vanished, "--", "echo", "unrestricted"]), run([JSON.stringify(good), "--", "no-such-program-xyz"])])).toEqual([
    { code: 126, stdout: "", stderr: "landlock-exec: malformed policy" },
    { code: 126, stdout: "", stderr: `landlock-exec: open ${path.join(l.base, "gone")}: ENOENT (No such file or directory)` },
    { code: 127, stdout: "", stderr: "landlock-exec: no-such-program-xyz: not found on PATH" },
  ]);
});

test("network none under Landlock: TCP connect is refused", async () => {
  const l = makeLayout();
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const script = `(exec 3<>/dev/tcp/127.0.0.1/${server.port}) 2>/dev/null && echo connected || echo refused`;
    const [none, host] = await Promise.all([runScript(sandbox, script, specFor(l, { network: "none" })), runScript(sandbox, script, specFor(l))]);
    expect([none, host]).toEqual([
      { code: 0, stdout: "refused\n", stderr: "" },
      { code: 0, stdout: "connected\n", stderr: "" },
    ]);
  } finally {
    server.stop(true);
  }
});

test("compiled: the helper is a hidden subcommand of the executable itself", async () => {
  const dir = tempDir("ocs-sandbox-compiled-");
  chmodSync(dir, 0o755);
  const binary = path.join(dir, "entry");
  const build = Bun.spawn([process.execPath, "build", path.join(import.meta.dir, "fixtures/compiled-entry.ts"), ...BUILD_FLAGS, "--outfile", binary], { stdout: "pipe", stderr: "pipe" });
  const [buildErr, buildCode] = await Promise.all([new Response(build.stderr).text(), build.exited]);
  expect({ buildCode, buildErr }).toEqual({ buildCode: 0, buildErr: "" });

  const printed = Bun.spawn([binary], { stdout: "pipe", stderr: "pipe" });
  const prefix: unknown = JSON.parse(await new Response(printed.stdout).text());
  expect({ prefix, code: await printed.exited }).toEqual({ prefix: [binary, LANDLOCK_EXEC_SUBCOMMAND], code: 0 });

  const compiled: Sandbox = createSandbox({ mode: "landlock", landlock: support }, { landlockExec: prefix as string[] });
  const l = makeLayout(NOBODY);
  const r = await runScript(compiled, visibilityScript(l), specFor(l), NOBODY);
  expect({ code: r.code, stderr: r.stderr, ...fields(r.stdout) }).toEqual(expectedFor(NOBODY));
}, 60_000);

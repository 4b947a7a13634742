// Choosing the sandbox: auto takes bwrap here, falls back with a reason when bwrap fails, and an explicit choice that cannot work throws.
import { expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import path from "node:path";
import { detectSandbox, probeLandlock, SandboxUnavailableError, type LandlockProbe } from "../../src/sandbox/index.ts";
import { tempDir } from "../support/temp.ts";

const noLandlock = (): LandlockProbe => ({ ok: false, error: "Landlock is unavailable (landlock_create_ruleset: ENOSYS (Function not implemented))" });
const landlock = probeLandlock();

/** A "bwrap" that never answers. */
function hangingBwrap(): string {
  const file = path.join(tempDir("ocs-sandbox-hang-"), "bwrap");
  writeFileSync(file, "#!/bin/sh\nexec sleep 30\n");
  chmodSync(file, 0o755);
  return file;
}

test("auto picks bwrap here, measured by a real probe", async () => {
  const d = await detectSandbox("auto");
  expect(d).toEqual({ mode: "bwrap", bwrapPath: "/usr/bin/bwrap", reason: null, detail: expect.stringMatching(/^bubblewrap \/usr\/bin\/bwrap \(probe [\d.]+ ms\)$/), probeMs: expect.any(Number) });
  expect(d.probeMs).toBeLessThan(1000);
});

test("auto with a bwrap that fails falls back to Landlock and says why", async () => {
  if (!landlock.ok) throw new Error(landlock.error);
  const d = await detectSandbox("auto", { bwrapPath: "/bin/false" });
  expect(d).toEqual({
    mode: "landlock",
    landlock: landlock.support,
    reason: expect.stringContaining("bubblewrap cannot sandbox here (/bin/false exited 1: no message); falling back to Landlock ABI"),
    detail: `Landlock ABI ${landlock.support.abi} with signal and abstract-socket scoping`,
    probeMs: null,
  });
  expect(d.reason).toContain("no PID namespace");
});

test("auto with neither falls back to off, naming both causes", async () => {
  const d = await detectSandbox("auto", { bwrapPath: null, probeLandlock: noLandlock });
  expect(d).toEqual({
    mode: "off",
    reason: "no sandbox available — bubblewrap: bwrap (bubblewrap) is not installed or not on PATH; Landlock is unavailable (landlock_create_ruleset: ENOSYS (Function not implemented)). The agent runs as the server's user and can read its files",
    detail: "no sandbox",
    probeMs: null,
  });
});

test("a probe that hangs is cut short and counts as a failure", async () => {
  const bwrap = hangingBwrap();
  const started = performance.now();
  const d = await detectSandbox("auto", { bwrapPath: bwrap, probeTimeoutMs: 200, probeLandlock: noLandlock });
  expect(performance.now() - started).toBeLessThan(2000);
  expect(d.mode).toBe("off");
  expect(d.reason).toContain(`bubblewrap: ${bwrap} did not finish within 200 ms`);
});

test("explicit bwrap or landlock that cannot work throws a typed error; off is off, with a reason", async () => {
  const failures = await Promise.all([
    detectSandbox("bwrap", { bwrapPath: "/bin/false" }).catch((e: unknown) => e),
    detectSandbox("bwrap", { bwrapPath: null }).catch((e: unknown) => e),
    detectSandbox("landlock", { probeLandlock: noLandlock }).catch((e: unknown) => e),
  ]);
  expect(failures.map((e) => (e instanceof SandboxUnavailableError ? [e.requested, e.reason] : e))).toEqual([
    ["bwrap", "/bin/false exited 1: no message"],
    ["bwrap", "bwrap (bubblewrap) is not installed or not on PATH"],
    ["landlock", "Landlock is unavailable (landlock_create_ruleset: ENOSYS (Function not implemented))"],
  ]);
  expect(await detectSandbox("off")).toEqual({ mode: "off", reason: "sandbox disabled by configuration: the agent runs as the server's user and can read its files", detail: "no sandbox", probeMs: null });
  expect(await detectSandbox("bwrap")).toMatchObject({ mode: "bwrap", reason: null });
  expect(await detectSandbox("landlock")).toMatchObject({ mode: "landlock", reason: null });
});

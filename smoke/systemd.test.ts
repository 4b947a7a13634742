// The systemd unit: systemd's own linter finds nothing, and the hardening the README promises is there.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { DEFAULTS } from "../src/config.ts";
import { parseDuration } from "../src/lib/duration.ts";
import { tempDir } from "../test/support/temp.ts";
import { sh } from "./support/docker.ts";

const UNIT = path.resolve(import.meta.dir, "../deploy/opencode-server.service");

function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1] as string, [...(out.get(m[1] as string) ?? []), m[2] as string]);
  }
  return out;
}

test("systemd-analyze verify reports nothing", async () => {
  const text = await Bun.file(UNIT).text();
  // Verify the unit as written, except for what only exists on an installed VM: the user, the binary, the env file.
  const copy = path.join(tempDir("ocs-unit-"), "opencode-server.service");
  writeFileSync(
    copy,
    text
      .replace(/^User=.*$/m, "User=root")
      .replace(/^Group=.*$/m, "Group=root")
      .replace(/^ExecStart=.*$/m, "ExecStart=/bin/true")
      .replace(/^EnvironmentFile=(.*)$/m, "EnvironmentFile=-$1"),
  );
  const result = await sh(["systemd-analyze", "verify", copy], { check: false });
  expect({ code: result.code, output: (result.stdout + result.stderr).trim() }).toEqual({ code: 0, output: "" });
});

test("a dedicated user, secrets from a file, hardening, one writable directory, a stop timeout above SHUTDOWN_TIMEOUT", async () => {
  const d = directives(await Bun.file(UNIT).text());
  expect(d.get("User")).toEqual(["opencode-server"]);
  expect(d.get("EnvironmentFile")).toEqual(["/etc/opencode-server/env"]);
  expect(d.get("ExecStart")).toEqual(["/usr/local/bin/opencode-server"]);
  expect(d.get("Restart")).toEqual(["on-failure"]);
  expect(d.get("KillMode")).toEqual(["mixed"]);
  for (const key of ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictSUIDSGID"]) expect(d.get(key)).toEqual(["yes"]);
  expect(d.get("ProtectSystem")).toEqual(["strict"]);
  expect(d.get("CapabilityBoundingSet")).toEqual([""]);
  expect(d.get("ReadWritePaths")).toBeUndefined();
  expect(d.get("StateDirectory")?.[0]?.split(" ")[0]).toBe("opencode-server");
  for (const env of d.get("Environment") ?? []) if (/^(WORK_DIR|DATA_DIR|HOME)=/.test(env)) expect(env).toContain("=/var/lib/opencode-server/");
  const stop = parseDuration(d.get("TimeoutStopSec")?.[0] ?? "0") ?? 0;
  expect(stop).toBeGreaterThan((parseDuration(DEFAULTS.SHUTDOWN_TIMEOUT) ?? 0) * 5);
});

// Asks the opencode binary what it is and which models it can use, once, right after the server listens.
import { mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config.ts";
import { MODEL_PATTERN } from "./names.ts";
import { SetupError } from "./setup.ts";

interface Output {
  code: number;
  out: string;
  err: string;
}

/** Runs `opencode <args>` in a throwaway directory (opencode writes into TMPDIR), with the agent's environment. */
async function opencode(config: Config, bin: string, args: string[], timeoutMs: number): Promise<Output> {
  const dir = mkdtempSync(path.join(config.workDir, "opencode-probe-"));
  try {
    const proc = Bun.spawn([bin, ...args], {
      cwd: dir,
      env: { ...config.agentEnv, TMPDIR: dir },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: timeoutMs,
      killSignal: "SIGKILL",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, out, err };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `opencode --version` (0.4–1.2 s); throws SetupError when the binary does not run. */
export async function probeVersion(config: Config, bin: string, timeoutMs = 30_000): Promise<string> {
  const { code, out, err } = await opencode(config, bin, ["--version"], timeoutMs);
  const version = out.trim().split("\n")[0]?.trim() ?? "";
  if (code !== 0 || !/^\d+\.\d+/.test(version)) {
    throw new SetupError("OPENCODE_BIN", `OPENCODE_BIN: "${bin} --version" failed (exit ${code}): ${(err || out).trim().slice(0, 300)}`);
  }
  return version;
}

/**
 * `opencode models`: every provider/model the configured credentials reach (~3 s: opencode loads
 * its whole provider catalogue). Null when it fails; the caller says the list is unknown.
 */
export async function probeModels(config: Config, bin: string, timeoutMs = 60_000): Promise<string[] | null> {
  const { code, out } = await opencode(config, bin, ["models"], timeoutMs);
  if (code !== 0) return null;
  const models = out.split("\n").map((l) => l.trim()).filter((l) => MODEL_PATTERN.test(l));
  return models.length > 0 ? models : null;
}

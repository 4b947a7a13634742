// The Landlock helper: restricts itself with a run's ruleset, then becomes the agent (execve) — Bun cannot run code between fork and exec.
//
// Started as `bun <this file> POLICY -- ARGV…` from source, or as a hidden subcommand of the compiled
// server (`opencode-server __landlock-exec POLICY -- ARGV…`). It starts in / on purpose: Bun reads
// bunfig.toml (preloads!) and .env from its working directory, and the agent's directory is the
// agent's to write — so the prefix also turns both off, and the helper changes directory itself.
import type { LandlockPolicy } from "./landlock-policy.ts";
import { addConnectPortRule, addPathRule, chdir, closeFd, createRuleset, dropCapabilities, execve, restrictSelf } from "./landlock-syscalls.ts";

export const LANDLOCK_EXEC_SUBCOMMAND = "__landlock-exec";
/** Exit codes of a helper that could not start the agent (as shells use them). */
export const EXIT_SETUP_FAILED = 126;
export const EXIT_NOT_FOUND = 127;

/** Whether this code runs inside a `bun build --compile` executable (its modules live in a virtual /$bunfs). */
export function isCompiled(): boolean {
  return import.meta.path.startsWith("/$bunfs/");
}

/** The argv prefix that runs the helper: the policy JSON, `--` and the agent's argv follow it. */
export function landlockExecPrefix(compiled = isCompiled()): string[] {
  if (compiled) return [process.execPath, LANDLOCK_EXEC_SUBCOMMAND];
  return [process.execPath, "--no-env-file", "--config=/dev/null", "--no-install", import.meta.path];
}

function isPolicy(value: unknown): value is LandlockPolicy {
  if (!value || typeof value !== "object") return false;
  const p = value as Record<string, unknown>;
  const numbers = ["abi", "handledFs", "handledNet", "scoped"].every((k) => typeof p[k] === "number");
  const rules = Array.isArray(p.rules) && p.rules.every((r: unknown) => {
    const rule = r as Record<string, unknown> | null;
    return rule !== null && typeof rule === "object" && typeof rule.path === "string" && typeof rule.access === "number";
  });
  const ports = Array.isArray(p.connectPorts) && p.connectPorts.every((n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536);
  return p.v === 1 && numbers && rules && ports && typeof p.cwd === "string";
}

function fail(code: number, message: string): never {
  process.stderr.write(`landlock-exec: ${message}\n`);
  process.exit(code);
}

/** Applies the policy in args[0] and executes the command after `--`. Never returns. */
export function runLandlockExec(args: readonly string[], inherited: Readonly<Record<string, string | undefined>>): never {
  const [json, separator, ...command] = args;
  if (json === undefined || separator !== "--" || command.length === 0) fail(EXIT_SETUP_FAILED, "usage: POLICY -- COMMAND [ARGS…]");
  let policy: unknown;
  try {
    policy = JSON.parse(json);
  } catch {
    policy = null;
  }
  if (!isPolicy(policy)) fail(EXIT_SETUP_FAILED, "malformed policy");
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(inherited)) if (v !== undefined) env[k] = v;
  const program = command[0] as string;
  const file = program.includes("/") ? program : Bun.which(program, { PATH: env.PATH ?? "" });
  if (file === null) fail(EXIT_NOT_FOUND, `${program}: not found on PATH`);
  try {
    chdir(policy.cwd);
    const fd = createRuleset(policy.abi, policy.handledFs, policy.handledNet, policy.scoped);
    for (const rule of policy.rules) addPathRule(fd, rule.path, rule.access);
    for (const port of policy.connectPorts) addConnectPortRule(fd, port);
    // After the rules: opening their paths may need what is dropped here.
    dropCapabilities();
    restrictSelf(fd);
    closeFd(fd);
  } catch (err) {
    // Fail closed: never run the agent unrestricted.
    fail(EXIT_SETUP_FAILED, err instanceof Error ? err.message : String(err));
  }
  try {
    execve(file, command, env);
  } catch (err) {
    fail(EXIT_NOT_FOUND, err instanceof Error ? err.message : String(err));
  }
}

// Run as its own process (source mode): the one place it reads its environment, to hand it over.
if (import.meta.main) runLandlockExec(process.argv.slice(2), process.env);

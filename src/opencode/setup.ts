// Prepares opencode's home at start-up: credentials, config, no per-run plugin install, and the binary's version.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { secretLeaves, type Config } from "../config.ts";

export class SetupError extends Error {
  override readonly name = "SetupError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

export interface OpencodeSetup {
  /** Absolute path of the opencode executable. */
  bin: string;
  /** Where provider credentials come from (names only, never values). */
  credentialSources: string[];
  authFile: string;
  configFile: string;
  /** Secret values found in an existing auth.json, for redaction. */
  extraSecrets: string[];
  /** Things worth a warning in the start-up log. */
  warnings: string[];
}

const PLUGIN_LOCK = {
  name: "opencode-server-plugin-guard",
  lockfileVersion: 3,
  requires: true,
  packages: { "": { dependencies: { "@opencode-ai/plugin": "*" } } },
};

/** Writes a file atomically with owner-only permissions. */
function writePrivate(file: string, content: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
}

function readJsonObject(file: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(readFileSync(file, "utf8"));
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function configProvidersWithKey(configJson: Record<string, unknown> | null): string[] {
  const providers = configJson?.provider;
  if (!providers || typeof providers !== "object") return [];
  return Object.entries(providers as Record<string, unknown>)
    .filter(([, p]) => {
      const key = (p as { options?: { apiKey?: unknown } } | null)?.options?.apiKey;
      return typeof key === "string" && key.trim() !== "";
    })
    .map(([name]) => name);
}

export const MISSING_CREDENTIALS =
  "OPENCODE_AUTH_TOKEN environment variable is required " +
  "(or give provider credentials another way: OPENCODE_AUTH_JSON, a provider with options.apiKey in OPENCODE_CONFIG_JSON, " +
  "a provider key variable such as ANTHROPIC_API_KEY or OPENAI_API_KEY, or an existing auth.json at ";

/** Lists the credential sources present, failing with the seed's message when there is none. */
export function credentialSources(config: Config, authFile: string): string[] {
  const o = config.opencode;
  const sources: string[] = [];
  if (o.authToken) sources.push("OPENCODE_AUTH_TOKEN");
  if (o.authJson && Object.keys(o.authJson).length > 0) sources.push("OPENCODE_AUTH_JSON");
  for (const p of configProvidersWithKey(o.configJson)) sources.push(`OPENCODE_CONFIG_JSON provider "${p}"`);
  sources.push(...config.providerCredentialVars);
  const existing = readJsonObject(authFile);
  if (!o.authJson && existing && Object.keys(existing).length > 0) sources.push(`existing ${authFile}`);
  if (sources.length === 0) throw new SetupError("OPENCODE_AUTH_TOKEN", `${MISSING_CREDENTIALS}${authFile})`);
  return sources;
}

function writeAuth(config: Config, authFile: string, warnings: string[]): void {
  const { authToken, authJson } = config.opencode;
  if (!authJson && !authToken) return;
  // OPENCODE_AUTH_JSON replaces the file, as the seed did; a token alone is merged into what is there.
  const auth: Record<string, unknown> = authJson ? { ...authJson } : (readJsonObject(authFile) ?? {});
  if (authToken) {
    if (authJson && "opencode" in authJson) warnings.push("OPENCODE_AUTH_JSON has an \"opencode\" entry: OPENCODE_AUTH_TOKEN is ignored");
    else auth.opencode = { type: "api", key: authToken };
  }
  writePrivate(authFile, JSON.stringify(auth, null, 2));
}

function guardPluginInstall(configDir: string): void {
  // opencode runs `npm install @opencode-ai/plugin` in its config dir on every run unless it
  // finds this lock file and a node_modules directory (measured: ../shared/opencode-notes.md).
  mkdirSync(path.join(configDir, "node_modules"), { recursive: true, mode: 0o700 });
  const lock = path.join(configDir, "package-lock.json");
  if (!existsSync(lock)) writePrivate(lock, JSON.stringify(PLUGIN_LOCK, null, 2));
}

export function resolveBin(bin: string, envPath: string): string {
  if (bin.includes("/")) {
    const abs = path.resolve(bin);
    try {
      if (statSync(abs).isFile()) return abs;
    } catch {
      // fall through
    }
    throw new SetupError("OPENCODE_BIN", `OPENCODE_BIN: ${abs} does not exist`);
  }
  const found = Bun.which(bin, { PATH: envPath });
  if (!found) throw new SetupError("OPENCODE_BIN", `OPENCODE_BIN: "${bin}" is not on PATH (install opencode-ai or set OPENCODE_BIN to its path)`);
  return found;
}

async function runVersion(bin: string, env: Record<string, string>, cwd: string, timeoutMs: number): Promise<string> {
  const proc = Bun.spawn([bin, "--version"], { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const version = out.trim().split("\n")[0]?.trim() ?? "";
  if (code !== 0 || !/^\d+\.\d+/.test(version)) {
    throw new SetupError("OPENCODE_BIN", `OPENCODE_BIN: "${bin} --version" failed (exit ${code}): ${(err || out).trim().slice(0, 300)}`);
  }
  return version;
}

/**
 * Asks the binary for its version (0.4–1.2 s for the real CLI, so the server does it after it
 * starts listening); throws SetupError when it does not run.
 */
export async function probeVersion(config: Config, bin: string, timeoutMs = 30_000): Promise<string> {
  const probeDir = mkdtempSync(path.join(config.workDir, "opencode-probe-"));
  try {
    return await runVersion(bin, { ...config.agentEnv, TMPDIR: probeDir }, probeDir, timeoutMs);
  } finally {
    rmSync(probeDir, { recursive: true, force: true });
  }
}

/** Everything opencode needs before the first run, done synchronously; throws SetupError naming the variable at fault. */
export function setupOpencode(config: Config): OpencodeSetup {
  const dirs = config.opencode.dirs;
  const authFile = path.join(dirs.data, "auth.json");
  const configFile = path.join(dirs.config, "config.json");
  const warnings: string[] = [];
  const sources = credentialSources(config, authFile);
  const bin = resolveBin(config.opencode.bin, config.agentEnv.PATH ?? "");

  for (const dir of [dirs.config, dirs.data, config.workDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeAuth(config, authFile, warnings);
  if (config.opencode.configJson) writePrivate(configFile, JSON.stringify(config.opencode.configJson, null, 2));
  guardPluginInstall(dirs.config);
  return {
    bin,
    credentialSources: sources,
    authFile,
    configFile,
    extraSecrets: secretLeaves(readJsonObject(authFile) ?? {}),
    warnings,
  };
}

// Prepares opencode's home at start-up: credentials, config, no per-run plugin install, and the binary's version.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { secretLeaves, type Config } from "../config.ts";
import { OPENCODE_VERSION_SCANNED as PINNED_OPENCODE } from "./provider-env.ts";
import { agentCredentials, planProviders, type ProviderPlan } from "./provider-keys.ts";
import { guardPluginInstall, type RunFiles } from "./run-home.ts";

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
  /** Secret values in the auth.json the server wrote (OPENCODE_AUTH_FILE's among them), for redaction. */
  extraSecrets: string[];
  /**
   * What each run's private opencode home gets: the server's files with every proxied provider's key
   * replaced by the placeholder mark and its base URL by the key proxy's.
   */
  runFiles: RunFiles;
  /** The agent's environment, with the same replacement for provider key variables. */
  agentEnv: Record<string, string>;
  /** Which provider keys stay behind the key proxy, and which cannot. */
  providers: ProviderPlan;
  /** Things worth a warning in the start-up log. */
  warnings: string[];
}

/** Writes a file atomically with owner-only permissions. */
function writePrivate(file: string, content: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
}

type ProviderEntry = { options?: { apiKey?: unknown; baseURL?: unknown } } | null;

function configProviders(configJson: Record<string, unknown> | null): [string, ProviderEntry][] {
  const providers = configJson?.provider;
  if (!providers || typeof providers !== "object") return [];
  return Object.entries(providers as Record<string, ProviderEntry>);
}

/** Loopback and private addresses: an OpenAI-compatible server such as Ollama there needs no key. */
export function isLocalUrl(raw: unknown): boolean {
  if (typeof raw !== "string") return false;
  let host: string;
  try {
    host = new URL(raw).hostname.toLowerCase().replace(/^\[|\]$/g, "");
  } catch {
    return false;
  }
  if (host === "localhost" || host.endsWith(".localhost") || host === "host.docker.internal") return true;
  if (host === "::1" || /^f[cd][0-9a-f]{2}:/.test(host)) return true;
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(host);
  if (!v4) return false;
  const [a, b] = [Number(v4[1]), Number(v4[2])];
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

export const MISSING_CREDENTIALS =
  "OPENCODE_AUTH_TOKEN environment variable is required " +
  "(or give provider credentials another way: OPENCODE_AUTH_JSON, OPENCODE_AUTH_FILE naming an existing auth.json, " +
  "a provider with options.apiKey (or a local baseURL) in OPENCODE_CONFIG_JSON, " +
  "or a provider key variable such as ANTHROPIC_API_KEY or OPENAI_API_KEY)";

/** Lists the credential sources present, failing with the seed's message when there is none. */
export function credentialSources(config: Config, fileAuth: Record<string, unknown> | null): string[] {
  const o = config.opencode;
  const sources: string[] = [];
  if (o.authToken) sources.push("OPENCODE_AUTH_TOKEN");
  if (o.authJson && Object.keys(o.authJson).length > 0) sources.push("OPENCODE_AUTH_JSON");
  if (fileAuth && Object.keys(fileAuth).length > 0) sources.push("OPENCODE_AUTH_FILE");
  for (const [name, p] of configProviders(o.configJson)) {
    const key = p?.options?.apiKey;
    if (typeof key === "string" && key.trim() !== "") sources.push(`OPENCODE_CONFIG_JSON provider "${name}"`);
    else if (isLocalUrl(p?.options?.baseURL)) sources.push(`OPENCODE_CONFIG_JSON provider "${name}" (local, no key)`);
  }
  sources.push(...config.providerCredentialVars);
  if (sources.length === 0) throw new SetupError("OPENCODE_AUTH_TOKEN", MISSING_CREDENTIALS);
  return sources;
}

function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** OPENCODE_AUTH_FILE's content; its text is never quoted in an error (it holds keys). */
export function readAuthFile(file: string | null): Record<string, unknown> | null {
  if (file === null) return null;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SetupError("OPENCODE_AUTH_FILE", `OPENCODE_AUTH_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const auth = parseJsonObject(text);
  if (!auth) throw new SetupError("OPENCODE_AUTH_FILE", `OPENCODE_AUTH_FILE: ${file} is not a JSON object like {"provider": {"type": "api", "key": "..."}}`);
  for (const [provider, entry] of Object.entries(auth)) {
    if (!entry || typeof entry !== "object" || typeof (entry as { type?: unknown }).type !== "string") {
      throw new SetupError("OPENCODE_AUTH_FILE", `OPENCODE_AUTH_FILE: entry "${provider}" in ${file} must be an object with a string "type"`);
    }
  }
  return auth;
}

/**
 * The server's auth.json, rebuilt at every start from what is configured now (a credential removed
 * from the configuration is gone): OPENCODE_AUTH_FILE, then OPENCODE_AUTH_JSON's entries, then
 * OPENCODE_AUTH_TOKEN as the "opencode" provider unless an entry already names it.
 */
function authOf(config: Config, fileAuth: Record<string, unknown> | null, warnings: string[]): Record<string, unknown> {
  const { authToken, authJson } = config.opencode;
  const auth: Record<string, unknown> = { ...fileAuth, ...authJson };
  if (authToken) {
    if (!("opencode" in auth)) auth.opencode = { type: "api", key: authToken };
    else warnings.push(`${authJson && "opencode" in authJson ? "OPENCODE_AUTH_JSON" : "OPENCODE_AUTH_FILE"} has an "opencode" entry: OPENCODE_AUTH_TOKEN is ignored`);
  }
  return auth;
}

/**
 * The opencode executable: a path, or a name looked up on PATH and then in ./node_modules/.bin, so
 * `bun src/main.ts` in a checkout finds the pinned CLI as `bun run start` does.
 */
export function resolveBin(bin: string, envPath: string, cwd = process.cwd()): string {
  if (bin.includes("/")) {
    const abs = path.resolve(bin);
    try {
      if (statSync(abs).isFile()) return abs;
    } catch {
      // fall through
    }
    throw new SetupError("OPENCODE_BIN", `OPENCODE_BIN: ${abs} does not exist`);
  }
  const found = Bun.which(bin, { PATH: envPath }) ?? Bun.which(bin, { PATH: path.join(cwd, "node_modules", ".bin") });
  if (!found) {
    throw new SetupError(
      "OPENCODE_BIN",
      `OPENCODE_BIN: "${bin}" is not on PATH nor in ./node_modules/.bin: run "bun install" in the checkout, ` +
        `or install opencode (npm install -g opencode-ai@${PINNED_OPENCODE}), or set OPENCODE_BIN to its path`,
    );
  }
  return found;
}

/**
 * Inside a sandbox the sandbox is the boundary: paths outside the workspace (its HOME, /tmp) need no
 * `ask`, which `opencode run` auto-rejects. The operator's own permissions come after, so they win.
 */
export function withSandboxDefaults(configJson: Record<string, unknown> | null, sandboxed: boolean): Record<string, unknown> | null {
  if (!sandboxed) return configJson;
  const permission = configJson?.permission;
  // A single string sets every permission: the operator decided everything.
  if (typeof permission === "string") return configJson;
  const own = permission && typeof permission === "object" ? (permission as Record<string, unknown>) : {};
  return { ...configJson, permission: { external_directory: "allow", ...own } };
}

/**
 * The server never uses opencode's snapshots — a shadow git repository of the working directory, written at
 * every step's start and compared at its end, that serves the TUI's undo and per-step patch parts: a run's
 * diff comes from git itself. In a repository workspace each of those is a `git add` of the whole checkout
 * (thousands of files hashed before a step's answer is taken in), so they are off unless the operator's
 * OPENCODE_CONFIG_JSON says `"snapshot"` itself.
 */
export function withServerDefaults(configJson: Record<string, unknown> | null): Record<string, unknown> {
  return configJson && "snapshot" in configJson ? configJson : { ...configJson, snapshot: false };
}

/** Everything opencode needs before the first run, done synchronously; throws SetupError naming the variable at fault. */
export function setupOpencode(config: Config, opts: { sandboxed: boolean } = { sandboxed: false }): OpencodeSetup {
  const dirs = config.opencode.dirs;
  const authFile = path.join(dirs.data, "auth.json");
  const configFile = path.join(dirs.config, "config.json");
  const warnings: string[] = [];
  const fileAuth = readAuthFile(config.opencode.authFile);
  const sources = credentialSources(config, fileAuth);
  const bin = resolveBin(config.opencode.bin, config.agentEnv.PATH ?? "");

  for (const dir of [dirs.config, dirs.data, config.workDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const authEntries = authOf(config, fileAuth, warnings);
  const auth = JSON.stringify(authEntries, null, 2);
  const configJson = withServerDefaults(withSandboxDefaults(config.opencode.configJson, opts.sandboxed));
  const configText = JSON.stringify(configJson, null, 2);
  writePrivate(authFile, auth);
  writePrivate(configFile, configText);
  guardPluginInstall(dirs.config, writePrivate);
  const providers = planProviders(authEntries, configJson, config.agentEnv);
  const agent = agentCredentials(providers, authEntries, configJson, config.agentEnv);
  return {
    bin,
    credentialSources: sources,
    authFile,
    configFile,
    extraSecrets: secretLeaves(authEntries),
    warnings,
    runFiles: { auth: JSON.stringify(agent.auth, null, 2), config: agent.config ? JSON.stringify(agent.config, null, 2) : null },
    agentEnv: agent.env,
    providers,
  };
}

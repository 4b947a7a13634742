// Command-line subcommands that do not start a server: --version, --help, healthcheck, keys new.
import { newKey, newKeyOptions } from "./auth/keys-new.ts";
import { ConfigError, DEFAULTS, ENV_DOCS, loadConfig, type Env } from "./config.ts";
import { VERSION } from "./version.ts";

const USAGE = `opencode-server ${VERSION} — runs the opencode coding agent over HTTP

Usage:
  opencode-server              start the server (configured by environment variables)
  opencode-server healthcheck  exit 0 if the local server answers /health with 200, else 1
  opencode-server keys new --name NAME [--scopes a,b] [--expires 2027-01-01T00:00:00Z]
                               print a new random key, then its API_KEYS_FILE entry (TOML, then JSON)
  opencode-server --version    print the version
  opencode-server --help       print this help

Environment variables:
`;

export function helpText(): string {
  const width = Math.max(...ENV_DOCS.map((d) => d.name.length));
  const lines = ENV_DOCS.map((d) => `  ${d.name.padEnd(width)}  ${d.description}${d.default ? ` (default: ${d.default})` : ""}`);
  return `${USAGE}${lines.join("\n")}

Provider credentials: one of OPENCODE_AUTH_TOKEN, OPENCODE_AUTH_JSON, a provider apiKey in
OPENCODE_CONFIG_JSON, a provider key variable (e.g. ANTHROPIC_API_KEY) or an existing auth.json.
Documentation: GET /swagger on a running server.
`;
}

/** The URL the local server's /health answers on, from HOST and PORT. */
export function localHealthUrl(env: Env): string {
  const config = loadConfig(env);
  const wildcard = config.host === "0.0.0.0" || config.host === "::" || config.host === "";
  const host = wildcard ? "127.0.0.1" : config.host.includes(":") ? `[${config.host}]` : config.host;
  return `http://${host}:${config.port || DEFAULTS.PORT}/health`;
}

export async function healthcheck(env: Env, timeoutMs = 5000): Promise<number> {
  let url: string;
  try {
    url = localHealthUrl(env);
  } catch (err) {
    process.stderr.write(`healthcheck: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    return 1;
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => null)) as { status?: unknown } | null;
    if (res.status === 200 && body?.status === "healthy") return 0;
    process.stderr.write(`healthcheck: ${url} answered ${res.status} (${String(body?.status ?? "no status")})\n`);
  } catch (err) {
    process.stderr.write(`healthcheck: ${url}: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  return 1;
}

/** `keys new`: the key on the first line (shown once: only its digest is kept), the entries to paste after it. */
function keysCommand(args: readonly string[]): number {
  const [sub, ...rest] = args;
  if (sub !== "new") {
    process.stderr.write(`usage: opencode-server keys new --name NAME [--scopes runs:create,runs:read] [--expires 2027-01-01T00:00:00Z]\n`);
    return 2;
  }
  const opts = newKeyOptions(rest);
  if (typeof opts === "string") {
    process.stderr.write(`keys new: ${opts}\n`);
    return 2;
  }
  const made = newKey(opts);
  process.stdout.write(`${made.key}\n# API_KEYS_FILE entry (TOML):\n${made.toml}\n# or (JSON, in "keys": [...]):\n${made.json}\n`);
  return 0;
}

/** Runs a subcommand; returns its exit code, or null when the server should start. */
export async function runCli(args: readonly string[], env: Env): Promise<number | null> {
  const [command, ...rest] = args;
  if (command === undefined) return null;
  if (command === "keys") return keysCommand(rest);
  if (rest.length > 0) {
    process.stderr.write(`unexpected arguments: ${rest.join(" ")}\n\n${helpText()}`);
    return 2;
  }
  switch (command) {
    case "--version":
    case "-v":
    case "version":
      process.stdout.write(`opencode-server ${VERSION}\n`);
      return 0;
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(helpText());
      return 0;
    case "healthcheck":
      return healthcheck(env);
    default:
      process.stderr.write(`unknown command: ${command}\n\n${helpText()}`);
      return 2;
  }
}

// The agent runs arbitrary code, so what it inherits from the host is an allow-list and the server's own secrets never reach it.
import type { Env } from "./lib/env.ts";
import type { OpencodeDirs } from "./opencode/dirs.ts";
import { PROVIDER_ENV_VARS } from "./opencode/provider-env.ts";

/** Variables that carry the server's own secrets or settings: never handed to the agent. */
export const SERVER_SECRET_VARS = ["API_KEY", "GITHUB_TOKEN", "GIT_TOKEN", "OPENCODE_AUTH_TOKEN", "OPENCODE_AUTH_JSON", "OPENCODE_CONFIG_JSON", "DATABASE_URL", "WEBHOOK_SECRET", "WEBHOOK_URL"];
const SERVER_OWN_OPENCODE_VARS = new Set(["OPENCODE_AUTH_TOKEN", "OPENCODE_AUTH_JSON", "OPENCODE_AUTH_FILE", "OPENCODE_CONFIG_JSON", "OPENCODE_BIN", "OPENCODE_MODEL"]);

/** Network settings both the agent and the server's git commands need from the host. */
const NETWORK_VARS = [
  "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
  "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH",
];
/** Non-secret variables the agent legitimately needs from the host. */
const AGENT_BASE_VARS = ["PATH", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "SHELL", ...NETWORK_VARS];
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const CREDENTIAL_NAME = /KEY|TOKEN|SECRET|PAT$|CREDENTIALS|PASSWORD/;
const SECRET_FIELD = /key|token|secret|password|access|refresh|credential/i;

/** String values under secret-looking keys, at any depth: what must never be echoed. */
export function secretLeaves(value: unknown, underSecretKey = false): string[] {
  if (typeof value === "string") return underSecretKey ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((v) => secretLeaves(v, underSecretKey));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => secretLeaves(v, underSecretKey || SECRET_FIELD.test(k)));
  }
  return [];
}

function pick(env: Env, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const v = env[name];
    if (v !== undefined && v !== "") out[name] = v;
  }
  return out;
}

interface Identity {
  name: string;
  email: string;
}

/** Every agent run starts from this: the allow-list, plus a home and a commit identity of the server's choosing. */
export function buildAgentEnv(env: Env, passthrough: string[], home: string, dirs: OpencodeDirs, author: Identity): Record<string, string> {
  const dynamic = Object.keys(env).filter((n) => n.startsWith("LC_") || (n.startsWith("OPENCODE_") && !SERVER_OWN_OPENCODE_VARS.has(n)));
  const names = [...AGENT_BASE_VARS, ...dynamic, ...PROVIDER_ENV_VARS, ...passthrough].filter((n) => !SERVER_SECRET_VARS.includes(n));
  const out = pick(env, names);
  out.PATH ??= DEFAULT_PATH;
  out.HOME = home;
  out.XDG_CONFIG_HOME = dirs.xdgConfig;
  out.XDG_DATA_HOME = dirs.xdgData;
  out.XDG_CACHE_HOME = dirs.xdgCache;
  out.XDG_STATE_HOME = dirs.xdgState;
  // opencode must never update itself or wait for a terminal; the operator may still override the first.
  out.OPENCODE_DISABLE_AUTOUPDATE ??= "1";
  out.GIT_TERMINAL_PROMPT = "0";
  // The agent may commit by itself; give it the identity the server commits with.
  out.GIT_AUTHOR_NAME = out.GIT_COMMITTER_NAME = author.name;
  out.GIT_AUTHOR_EMAIL = out.GIT_COMMITTER_EMAIL = author.email;
  return out;
}

/** PATH, proxy and CA variables for the server's own git commands. */
export function gitBaseEnv(env: Env): Record<string, string> {
  return { PATH: env.PATH || DEFAULT_PATH, ...pick(env, NETWORK_VARS) };
}

/** Provider credential variables present in the environment (names only): checked at start-up, their values redacted. */
export function providerCredentialVars(env: Env): string[] {
  return PROVIDER_ENV_VARS.filter((n) => !SERVER_SECRET_VARS.includes(n) && CREDENTIAL_NAME.test(n) && (env[n] ?? "") !== "");
}

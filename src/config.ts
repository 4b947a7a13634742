// Parses the environment once, at startup, into the typed Config every other module receives.
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { parseDuration } from "./lib/duration.ts";
import { LOG_LEVELS, type LogLevel } from "./lib/logger.ts";
import { opencodeDirs, type OpencodeDirs } from "./opencode/dirs.ts";
import { MODEL_MAX_LENGTH, MODEL_PATTERN } from "./opencode/names.ts";
import { PROVIDER_ENV_VARS } from "./opencode/provider-env.ts";
import { parsePattern, type HostPattern } from "./network/allow-list.ts";
import type { NetworkMode } from "./network/agent-network.ts";
import type { SandboxRequest } from "./sandbox/types.ts";

export type Env = Readonly<Record<string, string | undefined>>;
export type { OpencodeDirs };

export interface Config {
  host: string;
  /** HOST was set: otherwise the address follows from whether API keys are configured. */
  hostExplicit: boolean;
  port: number;
  apiKeys: string[];
  maxExecutionMs: number;
  maxRequestBytes: number;
  maxOutputBytes: number;
  shutdownMs: number;
  logLevel: LogLevel;
  workDir: string;
  opencode: {
    bin: string;
    defaultModel: string | null;
    authToken: string | null;
    authJson: Record<string, unknown> | null;
    /** OPENCODE_AUTH_FILE: an existing auth.json the operator chose to reuse (read, never written). */
    authFile: string | null;
    configJson: Record<string, unknown> | null;
    /** The server's own home for opencode's files, under DATA_DIR: never the invoking user's. */
    home: string;
    dirs: OpencodeDirs;
  };
  /** The environment every agent run starts from: an allow-list, never the server's own secrets. */
  agentEnv: Record<string, string>;
  /** Where the server keeps its own state: the run store, undelivered patches. */
  dataDir: string;
  /** SANDBOX: how each run's agent is contained (auto: bubblewrap, else Landlock, else none — said loudly). */
  sandbox: SandboxRequest;
  /** What no agent may see: the server's HOME, DATA_DIR, the mirror cache, WORK_DIR (other runs), its config directory. */
  hiddenPaths: string[];
  /** SANDBOX_READ_PATHS: host paths beyond the system (/usr, /etc, …) every sandboxed agent may read, e.g. /opt/tools. */
  sandboxReadPaths: string[];
  /** AGENT_NETWORK: what the agent may reach besides its providers (through the key proxy). */
  agentNetwork: NetworkMode;
  /** AGENT_ALLOWED_HOSTS: what the egress proxy lets through in `proxy` mode. */
  agentAllowedHosts: HostPattern[];
  runs: {
    maxConcurrent: number;
    maxQueued: number;
    /** 0: off. */
    idleTimeoutMs: number;
    retentionMs: number;
  };
  metricsPublic: boolean;
  /** Swagger UI and the OpenAPI document without an API key. */
  docsPublic: boolean;
  git: {
    /** git on PATH, or GIT_BIN. */
    bin: string;
    /** URL prefixes repositories must start with. */
    allowedPrefixes: string[];
    githubToken: string | null;
    gitToken: string | null;
    tokenUsername: string;
    authorName: string;
    authorEmail: string;
    /** 0 = full history. */
    cloneDepth: number;
    inactivityTimeoutMs: number;
    /** PATH, proxy and CA variables for the server's own git commands. */
    baseEnv: Record<string, string>;
    /** The mirror cache; null when REPO_CACHE is off. */
    cache: { dir: string; maxBytes: number } | null;
  };
  /** Provider credential variables present in the environment (names only), for the start-up check. */
  providerCredentialVars: string[];
  /** Every secret value known at start-up, for redaction. */
  secrets: string[];
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** Variables that carry the server's own secrets or settings: never handed to the agent. */
export const SERVER_SECRET_VARS = ["API_KEY", "GITHUB_TOKEN", "GIT_TOKEN", "OPENCODE_AUTH_TOKEN", "OPENCODE_AUTH_JSON", "OPENCODE_CONFIG_JSON"];
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

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

function parseSize(text: string): number | null {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = SIZE_UNITS[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined) return null;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : null;
}

/** Defaults of the variables that have one (strings, as they would be written in the environment). */
export const DEFAULTS = {
  PORT: "8080",
  MAX_EXECUTION_TIME: "300s",
  MAX_REQUEST_SIZE: "10485760",
  MAX_OUTPUT_SIZE: "10485760",
  SHUTDOWN_TIMEOUT: "8s",
  LOG_LEVEL: "info",
  OPENCODE_BIN: "opencode",
  ALLOWED_REPO_PREFIXES: "https://github.com/",
  GIT_TOKEN_USERNAME: "x-access-token",
  GIT_AUTHOR_NAME: "opencode-server",
  GIT_AUTHOR_EMAIL: "opencode-server@localhost",
  GIT_CLONE_DEPTH: "1",
  GIT_TIMEOUT: "120s",
  GIT_BIN: "git",
  MAX_CONCURRENT_RUNS: String(os.availableParallelism()),
  MAX_QUEUED_RUNS: "100",
  IDLE_TIMEOUT: "0s",
  RUN_RETENTION: "7d",
  METRICS_PUBLIC: "false",
  DOCS_PUBLIC: "true",
  REPO_CACHE: "true",
  CACHE_MAX_BYTES: "10G",
  SANDBOX: "auto",
  AGENT_NETWORK: "proxy",
} as const;

const NETWORK_MODES = ["open", "proxy", "none"] as const;

const SANDBOX_MODES = ["auto", "bwrap", "landlock", "off"] as const;

/** Every variable the server reads, for --help (a test keeps this in step with the schema). */
export const ENV_DOCS: readonly { name: string; default: string; description: string }[] = [
  { name: "PORT", default: DEFAULTS.PORT, description: "HTTP port (0 picks a free one)" },
  { name: "HOST", default: "127.0.0.1 without API_KEY, 0.0.0.0 with it", description: "address to listen on" },
  { name: "API_KEY", default: "", description: "API key(s), comma-separated; unset = no authentication (warned)" },
  { name: "MAX_EXECUTION_TIME", default: DEFAULTS.MAX_EXECUTION_TIME, description: "wall-clock limit per run (Go duration: 300s, 5m, 1m30s)" },
  { name: "MAX_REQUEST_SIZE", default: DEFAULTS.MAX_REQUEST_SIZE, description: "maximum request body, bytes (K/M/G suffixes)" },
  { name: "MAX_OUTPUT_SIZE", default: DEFAULTS.MAX_OUTPUT_SIZE, description: "maximum output kept per run, bytes" },
  { name: "SHUTDOWN_TIMEOUT", default: DEFAULTS.SHUTDOWN_TIMEOUT, description: "on SIGTERM/SIGINT, how long runs may finish before they are killed" },
  { name: "LOG_LEVEL", default: DEFAULTS.LOG_LEVEL, description: "debug, info, warn or error" },
  { name: "WORK_DIR", default: "OS temp dir", description: "where each run's private directory is created" },
  { name: "DATA_DIR", default: "$XDG_DATA_HOME/opencode-server", description: "server state: run store, opencode's files for runs, undelivered commits" },
  { name: "OPENCODE_BIN", default: DEFAULTS.OPENCODE_BIN, description: "the opencode executable (name on PATH, or a path)" },
  { name: "OPENCODE_MODEL", default: "", description: "default provider/model" },
  { name: "OPENCODE_AUTH_TOKEN", default: "", description: "API key of the opencode provider, written to auth.json" },
  { name: "OPENCODE_AUTH_JSON", default: "", description: "opencode's auth.json content" },
  { name: "OPENCODE_AUTH_FILE", default: "", description: "an existing auth.json to reuse (read at start-up, never written)" },
  { name: "OPENCODE_CONFIG_JSON", default: "", description: "opencode's config.json content" },
  { name: "AGENT_ENV_PASSTHROUGH", default: "", description: "extra variable names handed to the agent, comma-separated" },
  { name: "ALLOWED_REPO_PREFIXES", default: DEFAULTS.ALLOWED_REPO_PREFIXES, description: "URL prefixes a repository must start with, comma-separated" },
  { name: "GITHUB_TOKEN", default: "", description: "token for repositories on github.com" },
  { name: "GIT_TOKEN", default: "", description: "token for repositories on other allowed hosts" },
  { name: "GIT_TOKEN_USERNAME", default: DEFAULTS.GIT_TOKEN_USERNAME, description: "user name sent with the token" },
  { name: "GIT_AUTHOR_NAME", default: DEFAULTS.GIT_AUTHOR_NAME, description: "author and committer name of commits" },
  { name: "GIT_AUTHOR_EMAIL", default: DEFAULTS.GIT_AUTHOR_EMAIL, description: "author and committer e-mail of commits" },
  { name: "GIT_CLONE_DEPTH", default: DEFAULTS.GIT_CLONE_DEPTH, description: "clone depth; 0 = full history" },
  { name: "GIT_TIMEOUT", default: DEFAULTS.GIT_TIMEOUT, description: "kill a git command silent this long" },
  { name: "GIT_BIN", default: DEFAULTS.GIT_BIN, description: "the git executable" },
  { name: "MAX_CONCURRENT_RUNS", default: DEFAULTS.MAX_CONCURRENT_RUNS, description: "agents running at once (default: the number of CPUs)" },
  { name: "MAX_QUEUED_RUNS", default: DEFAULTS.MAX_QUEUED_RUNS, description: "runs waiting for a slot; beyond that 429" },
  { name: "IDLE_TIMEOUT", default: DEFAULTS.IDLE_TIMEOUT, description: "stop a run after no agent event for this long; 0 = off" },
  { name: "RUN_RETENTION", default: DEFAULTS.RUN_RETENTION, description: "keep finished runs and their events this long" },
  { name: "METRICS_PUBLIC", default: DEFAULTS.METRICS_PUBLIC, description: "serve /metrics without an API key" },
  { name: "DOCS_PUBLIC", default: DEFAULTS.DOCS_PUBLIC, description: "serve /swagger (Swagger UI, the OpenAPI document) without an API key" },
  { name: "REPO_CACHE", default: DEFAULTS.REPO_CACHE, description: "keep a bare mirror per repository and clone runs from it" },
  { name: "CACHE_DIR", default: "$DATA_DIR/mirrors", description: "where the repository mirrors live" },
  { name: "CACHE_MAX_BYTES", default: DEFAULTS.CACHE_MAX_BYTES, description: "evict least recently used mirrors beyond this size" },
  { name: "SANDBOX", default: DEFAULTS.SANDBOX, description: "contain each run: auto (bubblewrap, else Landlock, else off, warned), bwrap, landlock or off" },
  { name: "SANDBOX_READ_PATHS", default: "", description: "extra host paths every sandboxed agent may read (absolute, comma-separated), e.g. /opt/tools" },
  { name: "AGENT_NETWORK", default: DEFAULTS.AGENT_NETWORK, description: "the agent's network: proxy (only AGENT_ALLOWED_HOSTS, through a proxy), none (its model providers only), open" },
  { name: "AGENT_ALLOWED_HOSTS", default: "", description: "hosts the agent may reach in proxy mode: host, *.domain or an IP, with :port (default 80 and 443), comma-separated" },
];

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

function withDefault<T>(parse: (raw: string) => T | null, fallback: string, expected: string) {
  return optionalText.transform((raw, ctx) => {
    const value = parse(raw ?? fallback);
    if (value === null) {
      ctx.addIssue({ code: "custom", message: expected });
      return z.NEVER;
    }
    return value;
  });
}

function jsonObject(expected: string) {
  return optionalText.transform((raw, ctx) => {
    if (raw === undefined) return null;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      // The parser's message quotes the offending text, which may be a secret: say only what is wrong.
      ctx.addIssue({ code: "custom", message: `is not valid JSON (expected ${expected})` });
      return z.NEVER;
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      ctx.addIssue({ code: "custom", message: `must be a JSON object (${expected})` });
      return z.NEVER;
    }
    return value as Record<string, unknown>;
  });
}

export const EnvSchema = z.object({
  PORT: withDefault((v) => (/^\d+$/.test(v) && Number(v) <= 65535 ? Number(v) : null), DEFAULTS.PORT, "must be a port number between 0 and 65535"),
  HOST: optionalText,
  API_KEY: optionalText.transform((v) =>
    (v ?? "")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean),
  ),
  MAX_EXECUTION_TIME: withDefault((v) => positive(parseDuration(v)), DEFAULTS.MAX_EXECUTION_TIME, "must be a positive Go duration such as 300s, 5m or 1m30s"),
  MAX_REQUEST_SIZE: withDefault((v) => positive(parseSize(v)), DEFAULTS.MAX_REQUEST_SIZE, "must be a positive number of bytes (suffixes K, M, G allowed)"),
  MAX_OUTPUT_SIZE: withDefault((v) => positive(parseSize(v)), DEFAULTS.MAX_OUTPUT_SIZE, "must be a positive number of bytes (suffixes K, M, G allowed)"),
  SHUTDOWN_TIMEOUT: withDefault((v) => nonNegative(parseDuration(v)), DEFAULTS.SHUTDOWN_TIMEOUT, "must be a Go duration such as 8s or 1m"),
  LOG_LEVEL: withDefault((v) => (LOG_LEVELS as readonly string[]).includes(v.toLowerCase()) ? (v.toLowerCase() as LogLevel) : null, DEFAULTS.LOG_LEVEL, `must be one of ${LOG_LEVELS.join(", ")}`),
  WORK_DIR: withDefault((v) => (path.isAbsolute(v) ? path.resolve(v) : null), os.tmpdir(), "must be an absolute path"),
  OPENCODE_BIN: optionalText.transform((v) => v ?? DEFAULTS.OPENCODE_BIN),
  OPENCODE_MODEL: optionalText.refine((v) => v === undefined || (v.length <= MODEL_MAX_LENGTH && MODEL_PATTERN.test(v)), "must look like provider/model"),
  OPENCODE_AUTH_TOKEN: optionalText,
  OPENCODE_AUTH_JSON: jsonObject('{"provider": {"type": "api", "key": "..."}}'),
  OPENCODE_CONFIG_JSON: jsonObject("an opencode config object"),
  OPENCODE_AUTH_FILE: optionalText.refine((v) => v === undefined || path.isAbsolute(v), "must be an absolute path"),
  DATA_DIR: optionalText.refine((v) => v === undefined || path.isAbsolute(v), "must be an absolute path"),
  ALLOWED_REPO_PREFIXES: optionalText.transform((v, ctx) => {
    const list = (v ?? DEFAULTS.ALLOWED_REPO_PREFIXES).split(",").map((p) => p.trim()).filter(Boolean);
    for (const entry of list) {
      const problem = prefixProblem(entry);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }
    return list;
  }),
  GITHUB_TOKEN: optionalText,
  GIT_TOKEN: optionalText,
  GIT_TOKEN_USERNAME: optionalText.transform((v) => v ?? DEFAULTS.GIT_TOKEN_USERNAME),
  GIT_AUTHOR_NAME: optionalText.transform((v) => v ?? DEFAULTS.GIT_AUTHOR_NAME),
  GIT_AUTHOR_EMAIL: optionalText.transform((v) => v ?? DEFAULTS.GIT_AUTHOR_EMAIL),
  GIT_CLONE_DEPTH: withDefault((v) => (/^\d+$/.test(v) ? Number(v) : null), DEFAULTS.GIT_CLONE_DEPTH, "must be a whole number of commits (0 = full history)"),
  GIT_TIMEOUT: withDefault((v) => positive(parseDuration(v)), DEFAULTS.GIT_TIMEOUT, "must be a positive Go duration such as 120s"),
  GIT_BIN: optionalText.transform((v) => v ?? DEFAULTS.GIT_BIN),
  MAX_CONCURRENT_RUNS: withDefault((v) => (/^\d+$/.test(v) && Number(v) >= 1 ? Number(v) : null), DEFAULTS.MAX_CONCURRENT_RUNS, "must be a whole number of at least 1"),
  MAX_QUEUED_RUNS: withDefault((v) => (/^\d+$/.test(v) ? Number(v) : null), DEFAULTS.MAX_QUEUED_RUNS, "must be a whole number (0 = no queue)"),
  IDLE_TIMEOUT: withDefault((v) => nonNegative(parseDuration(v)), DEFAULTS.IDLE_TIMEOUT, "must be a Go duration such as 10m (0 = off)"),
  RUN_RETENTION: withDefault((v) => positive(parseDuration(v)), DEFAULTS.RUN_RETENTION, "must be a positive duration such as 7d or 72h"),
  REPO_CACHE: withDefault((v) => bool(v), DEFAULTS.REPO_CACHE, "must be true or false"),
  CACHE_DIR: optionalText.refine((v) => v === undefined || path.isAbsolute(v), "must be an absolute path"),
  CACHE_MAX_BYTES: withDefault((v) => positive(parseSize(v)), DEFAULTS.CACHE_MAX_BYTES, "must be a positive size (suffixes K, M, G allowed)"),
  SANDBOX: withDefault((v) => ((SANDBOX_MODES as readonly string[]).includes(v.toLowerCase()) ? (v.toLowerCase() as SandboxRequest) : null), DEFAULTS.SANDBOX, `must be one of ${SANDBOX_MODES.join(", ")}`),
  SANDBOX_READ_PATHS: optionalText.transform((v, ctx) => {
    const list = (v ?? "").split(",").map((p) => p.trim()).filter(Boolean);
    for (const p of list) if (!path.isAbsolute(p)) ctx.addIssue({ code: "custom", message: `"${p}" must be an absolute path` });
    return list.map((p) => path.resolve(p));
  }),
  AGENT_NETWORK: withDefault((v) => ((NETWORK_MODES as readonly string[]).includes(v.toLowerCase()) ? (v.toLowerCase() as NetworkMode) : null), DEFAULTS.AGENT_NETWORK, `must be one of ${NETWORK_MODES.join(", ")}`),
  AGENT_ALLOWED_HOSTS: optionalText.transform((v, ctx) => {
    const out: HostPattern[] = [];
    for (const entry of (v ?? "").split(",").map((e) => e.trim()).filter(Boolean)) {
      const pattern = parsePattern(entry);
      if (pattern) out.push(pattern);
      else ctx.addIssue({ code: "custom", message: `"${entry}" is not a host, *.domain or IP with an optional :port` });
    }
    return out;
  }),
  METRICS_PUBLIC: withDefault((v) => bool(v), DEFAULTS.METRICS_PUBLIC, "must be true or false"),
  DOCS_PUBLIC: withDefault((v) => bool(v), DEFAULTS.DOCS_PUBLIC, "must be true or false"),
  AGENT_ENV_PASSTHROUGH: optionalText.transform((v, ctx) => {
    const names = (v ?? "").split(",").map((n) => n.trim()).filter(Boolean);
    for (const n of names) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) ctx.addIssue({ code: "custom", message: `"${n}" is not a variable name` });
      else if (SERVER_SECRET_VARS.includes(n)) ctx.addIssue({ code: "custom", message: `${n} is a server secret and is never passed to the agent` });
    }
    return names;
  }),
});

function prefixProblem(entry: string): string | null {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return `"${entry}" is not a URL prefix such as https://github.com/my-org/`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return `"${entry}" must start with https:// (or http:// for a host you trust)`;
  if (url.username || url.password || url.search || url.hash) return `"${entry}" must not contain credentials, a query or a fragment`;
  return null;
}

function bool(v: string): boolean | null {
  const lower = v.toLowerCase();
  if (["true", "1", "yes", "on"].includes(lower)) return true;
  if (["false", "0", "no", "off"].includes(lower)) return false;
  return null;
}

function positive(n: number | null): number | null {
  return n !== null && n > 0 ? n : null;
}

function nonNegative(n: number | null): number | null {
  return n !== null && n >= 0 ? n : null;
}

function validateAuthJson(auth: Record<string, unknown>): void {
  for (const [provider, entry] of Object.entries(auth)) {
    if (!entry || typeof entry !== "object" || typeof (entry as { type?: unknown }).type !== "string") {
      throw new ConfigError("OPENCODE_AUTH_JSON", `entry "${provider}" must be an object with a string "type" (api, oauth or wellknown)`);
    }
  }
}

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

function buildAgentEnv(env: Env, passthrough: string[], home: string, dirs: OpencodeDirs, author: Identity): Record<string, string> {
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

function absoluteOr(value: string | undefined, fallback: string): string {
  return value && path.isAbsolute(value) ? value : fallback;
}

/** Parses and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue?.path[0] ?? "environment"), issue?.message ?? "invalid");
  }
  const e = parsed.data;
  if (e.OPENCODE_AUTH_JSON) validateAuthJson(e.OPENCODE_AUTH_JSON);

  // The invoking user's HOME/XDG locate DATA_DIR's default only: opencode's files for runs live in a
  // home of the server's own, so a developer's ~/.config/opencode and auth.json are never touched.
  const userHome = absoluteOr(env.HOME, os.homedir());
  const userData = absoluteOr(env.XDG_DATA_HOME, path.join(userHome, ".local", "share"));
  const dataDir = e.DATA_DIR ? path.resolve(e.DATA_DIR) : path.join(userData, "opencode-server");
  const home = path.join(dataDir, "opencode-home");
  const cacheDir = e.REPO_CACHE ? (e.CACHE_DIR ? path.resolve(e.CACHE_DIR) : path.join(dataDir, "mirrors")) : null;
  const dirs = opencodeDirs(home);
  const providerCredentialVars = PROVIDER_ENV_VARS.filter(
    (n) => !SERVER_SECRET_VARS.includes(n) && CREDENTIAL_NAME.test(n) && (env[n] ?? "") !== "",
  );
  const secrets = [
    ...e.API_KEY,
    ...(e.OPENCODE_AUTH_TOKEN ? [e.OPENCODE_AUTH_TOKEN] : []),
    ...secretLeaves(e.OPENCODE_AUTH_JSON ?? {}),
    ...secretLeaves(e.OPENCODE_CONFIG_JSON ?? {}),
    ...providerCredentialVars.map((n) => env[n] as string),
    ...SERVER_SECRET_VARS.flatMap((n) => (n.endsWith("_JSON") || !env[n] ? [] : [env[n] as string])),
  ];

  return {
    // Without a key, only this machine may reach an agent with a shell, unless HOST says otherwise.
    host: e.HOST ?? (e.API_KEY.length > 0 ? "0.0.0.0" : "127.0.0.1"),
    hostExplicit: e.HOST !== undefined,
    port: e.PORT,
    apiKeys: e.API_KEY,
    maxExecutionMs: e.MAX_EXECUTION_TIME,
    maxRequestBytes: e.MAX_REQUEST_SIZE,
    maxOutputBytes: e.MAX_OUTPUT_SIZE,
    shutdownMs: e.SHUTDOWN_TIMEOUT,
    logLevel: e.LOG_LEVEL,
    workDir: e.WORK_DIR,
    opencode: {
      bin: e.OPENCODE_BIN,
      defaultModel: e.OPENCODE_MODEL ?? null,
      authToken: e.OPENCODE_AUTH_TOKEN ?? null,
      authJson: e.OPENCODE_AUTH_JSON,
      authFile: e.OPENCODE_AUTH_FILE ?? null,
      configJson: e.OPENCODE_CONFIG_JSON,
      home,
      dirs,
    },
    agentEnv: buildAgentEnv(env, e.AGENT_ENV_PASSTHROUGH, home, dirs, { name: e.GIT_AUTHOR_NAME, email: e.GIT_AUTHOR_EMAIL }),
    dataDir,
    sandbox: e.SANDBOX,
    hiddenPaths: [...new Set([userHome, dataDir, e.WORK_DIR, ...(cacheDir ? [cacheDir] : []), "/etc/opencode-server"])],
    sandboxReadPaths: e.SANDBOX_READ_PATHS,
    agentNetwork: e.AGENT_NETWORK,
    agentAllowedHosts: e.AGENT_ALLOWED_HOSTS,
    runs: {
      maxConcurrent: e.MAX_CONCURRENT_RUNS,
      maxQueued: e.MAX_QUEUED_RUNS,
      idleTimeoutMs: e.IDLE_TIMEOUT,
      retentionMs: e.RUN_RETENTION,
    },
    metricsPublic: e.METRICS_PUBLIC,
    docsPublic: e.DOCS_PUBLIC,
    git: {
      bin: e.GIT_BIN,
      allowedPrefixes: e.ALLOWED_REPO_PREFIXES,
      githubToken: e.GITHUB_TOKEN ?? null,
      gitToken: e.GIT_TOKEN ?? null,
      tokenUsername: e.GIT_TOKEN_USERNAME,
      authorName: e.GIT_AUTHOR_NAME,
      authorEmail: e.GIT_AUTHOR_EMAIL,
      cloneDepth: e.GIT_CLONE_DEPTH,
      inactivityTimeoutMs: e.GIT_TIMEOUT,
      baseEnv: { PATH: env.PATH || DEFAULT_PATH, ...pick(env, NETWORK_VARS) },
      cache: cacheDir ? { dir: cacheDir, maxBytes: e.CACHE_MAX_BYTES } : null,
    },
    providerCredentialVars,
    secrets,
  };
}

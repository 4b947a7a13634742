// Parses the environment once, at startup, into the typed Config every other module receives.
import os from "node:os";
import path from "node:path";
import { buildAgentEnv, gitBaseEnv, providerCredentialVars, secretLeaves, SERVER_SECRET_VARS } from "./agent-env.ts";
import { EnvSchema } from "./config-schema.ts";
import type { Env } from "./lib/env.ts";
import type { LogLevel } from "./lib/logger.ts";
import { opencodeDirs, type OpencodeDirs } from "./opencode/dirs.ts";
import type { HostPattern } from "./network/allow-list.ts";
import type { NetworkMode } from "./network/agent-network.ts";
import type { SandboxRequest } from "./sandbox/types.ts";
import type { ForgeSite } from "./git/forge/types.ts";
import type { WebhookEvent } from "./webhooks/model.ts";
import type { WebhookPrefix } from "./webhooks/url-policy.ts";

// Importers see one module: the parts live in siblings only to keep each file short.
export { secretLeaves, SERVER_SECRET_VARS } from "./agent-env.ts";
import type { Limits } from "./runs/model.ts";
export { DEFAULTS, ENV_DOCS } from "./config-env-docs.ts";
import { KeysFileError, readKeysFile, type KeyEntry } from "./auth/keys-file.ts";
export { EnvSchema } from "./config-schema.ts";

export type { Env };
export type { OpencodeDirs };

export interface Config {
  host: string;
  /** HOST was set: otherwise the address follows from whether API keys are configured. */
  hostExplicit: boolean;
  port: number;
  apiKeys: string[];
  /** API_KEYS_FILE and its entries as read at start (SIGHUP reads it again). */
  keysFile: { path: string; entries: KeyEntry[] } | null;
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
  /** WARM_AGENTS and WARM_AGENT_MAX_IDLE: the pool of pre-booted agents for first runs. */
  warmAgents: { count: number; maxIdleMs: number };
  /** AGENT_ALLOWED_HOSTS: what the egress proxy lets through in `proxy` mode. */
  agentAllowedHosts: HostPattern[];
  runs: {
    maxConcurrent: number;
    maxQueued: number;
    /** 0: off. */
    idleTimeoutMs: number;
    retentionMs: number;
    /** MAX_RUN_*: each run's caps, which a request may lower but never raise. */
    ceilings: Limits;
    /** KEEP_SESSIONS: each run's session is stored for its follow-ups. */
    keepSessions: boolean;
  };
  /** Where runs are stored: SQLite in DATA_DIR, or one Postgres many replicas share. */
  store: {
    /** DATABASE_URL (a secret: it carries the password); null = SQLite. */
    databaseUrl: string | null;
    connectTimeoutMs: number;
    /** LEASE_TIMEOUT: a replica that has not renewed its runs' lease this long is taken for dead. */
    leaseMs: number;
  };
  /** REPLICA_ID: names this server process on its runs and log lines. */
  replicaId: string;
  metricsPublic: boolean;
  /** Swagger UI and the OpenAPI document without an API key. */
  docsPublic: boolean;
  /** The web dashboard at /ui. */
  dashboard: boolean;
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
    /** REPO_SPARES: workspaces checked out ahead, one per mirror for this many recently used mirrors (0 = off). */
    repoSpares: number;
  };
  /** PUBLIC_URL without a trailing slash: links to runs (pull request bodies); null when unset. */
  publicUrl: string | null;
  /** FORGES, github.com included: the forge and API of each repository prefix. */
  forges: ForgeSite[];
  webhooks: {
    /** WEBHOOK_URL (a secret: it may carry the receiver's token). */
    url: string | null;
    /** WEBHOOK_SECRET; null: no webhooks at all. */
    secret: string | null;
    allowedPrefixes: WebhookPrefix[];
    events: WebhookEvent[];
    timeoutMs: number;
    maxAttempts: number;
    retryBaseMs: number;
    retryMaxMs: number;
    concurrency: number;
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

function validateAuthJson(auth: Record<string, unknown>): void {
  for (const [provider, entry] of Object.entries(auth)) {
    if (!entry || typeof entry !== "object" || typeof (entry as { type?: unknown }).type !== "string") {
      throw new ConfigError("OPENCODE_AUTH_JSON", `entry "${provider}" must be an object with a string "type" (api, oauth or wellknown)`);
    }
  }
}

function absoluteOr(value: string | undefined, fallback: string): string {
  return value && path.isAbsolute(value) ? value : fallback;
}

/** The password inside DATABASE_URL (as written and decoded), redacted wherever it might show up on its own. */
function databasePassword(url: string | null): string[] {
  const raw = url ? new URL(url).password : "";
  if (!raw) return [];
  const decoded = decodeURIComponent(raw);
  return decoded === raw ? [raw] : [raw, decoded];
}

function keysFileOf(file: string): { path: string; entries: KeyEntry[] } {
  try {
    return { path: file, entries: readKeysFile(file) };
  } catch (err) {
    if (err instanceof KeysFileError) throw new ConfigError("API_KEYS_FILE", `${file}: ${err.message}`);
    throw err;
  }
}

/** Parses and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env): Config {
  // Parsed once: zod's compiled fast path would cost more to generate (3–6 ms of each start, bench 6) than it saves.
  const parsed = EnvSchema.safeParse(env, { jitless: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue?.path[0] ?? "environment"), issue?.message ?? "invalid");
  }
  const e = parsed.data;
  if (e.OPENCODE_AUTH_JSON) validateAuthJson(e.OPENCODE_AUTH_JSON);
  const keysFile = e.API_KEYS_FILE ? keysFileOf(path.resolve(e.API_KEYS_FILE)) : null;
  if (e.WEBHOOK_URL && !e.WEBHOOK_SECRET) throw new ConfigError("WEBHOOK_SECRET", "must be set when WEBHOOK_URL is: every delivery is signed with it");

  // The invoking user's HOME/XDG locate DATA_DIR's default only: opencode's files for runs live in a
  // home of the server's own, so a developer's ~/.config/opencode and auth.json are never touched.
  const userHome = absoluteOr(env.HOME, os.homedir());
  const userData = absoluteOr(env.XDG_DATA_HOME, path.join(userHome, ".local", "share"));
  const dataDir = e.DATA_DIR ? path.resolve(e.DATA_DIR) : path.join(userData, "opencode-server");
  const home = path.join(dataDir, "opencode-home");
  const cacheDir = e.REPO_CACHE ? (e.CACHE_DIR ? path.resolve(e.CACHE_DIR) : path.join(dataDir, "mirrors")) : null;
  const dirs = opencodeDirs(home);
  const providerCredentials = providerCredentialVars(env);
  const secrets = [
    ...e.API_KEY,
    ...(e.OPENCODE_AUTH_TOKEN ? [e.OPENCODE_AUTH_TOKEN] : []),
    ...secretLeaves(e.OPENCODE_AUTH_JSON ?? {}),
    ...secretLeaves(e.OPENCODE_CONFIG_JSON ?? {}),
    ...providerCredentials.map((n) => env[n] as string),
    ...SERVER_SECRET_VARS.flatMap((n) => (n.endsWith("_JSON") || !env[n] ? [] : [env[n] as string])),
    ...databasePassword(e.DATABASE_URL),
  ];

  return {
    // Without a key, only this machine may reach an agent with a shell, unless HOST says otherwise.
    host: e.HOST ?? (e.API_KEY.length > 0 || keysFile ? "0.0.0.0" : "127.0.0.1"),
    hostExplicit: e.HOST !== undefined,
    port: e.PORT,
    apiKeys: e.API_KEY,
    keysFile,
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
    warmAgents: { count: e.WARM_AGENTS, maxIdleMs: e.WARM_AGENT_MAX_IDLE },
    agentAllowedHosts: e.AGENT_ALLOWED_HOSTS,
    runs: {
      maxConcurrent: e.MAX_CONCURRENT_RUNS,
      maxQueued: e.MAX_QUEUED_RUNS,
      idleTimeoutMs: e.IDLE_TIMEOUT,
      retentionMs: e.RUN_RETENTION,
      ceilings: { max_cost_usd: e.MAX_RUN_COST_USD, max_tokens: e.MAX_RUN_TOKENS, max_steps: e.MAX_RUN_STEPS },
      keepSessions: e.KEEP_SESSIONS,
    },
    store: { databaseUrl: e.DATABASE_URL, connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT, leaseMs: e.LEASE_TIMEOUT },
    replicaId: e.REPLICA_ID,
    metricsPublic: e.METRICS_PUBLIC,
    docsPublic: e.DOCS_PUBLIC,
    dashboard: e.DASHBOARD,
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
      baseEnv: gitBaseEnv(env),
      cache: cacheDir ? { dir: cacheDir, maxBytes: e.CACHE_MAX_BYTES } : null,
      repoSpares: e.REPO_SPARES,
    },
    publicUrl: e.PUBLIC_URL,
    forges: e.FORGES,
    webhooks: {
      url: e.WEBHOOK_URL,
      secret: e.WEBHOOK_SECRET ?? null,
      allowedPrefixes: e.WEBHOOK_ALLOWED_PREFIXES,
      events: e.WEBHOOK_EVENTS,
      timeoutMs: e.WEBHOOK_TIMEOUT,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE,
      retryMaxMs: e.WEBHOOK_RETRY_MAX,
      concurrency: e.WEBHOOK_CONCURRENCY,
    },
    providerCredentialVars: providerCredentials,
    secrets,
  };
}

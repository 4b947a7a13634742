// Builds the app in-process around a fake runner, with the server's own composition function; requests go through its edge handler.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { composeGraph } from "../../src/compose.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import type { Metrics } from "../../src/metrics/metrics.ts";
import type { ModelCatalog } from "../../src/opencode/model-catalog.ts";
import type { RunService } from "../../src/runs/service.ts";
import type { RunStore } from "../../src/runs/store.ts";
import type { App } from "../../src/app.ts";
import type { MirrorCache } from "../../src/git/mirror-cache.ts";
import { FakeRunner } from "./fake-runner.ts";
import { tempDir } from "./temp.ts";

export interface TestApp {
  app: App;
  runner: FakeRunner;
  runs: RunService;
  store: RunStore;
  metrics: Metrics;
  logs: string[];
  workDir: string;
  dataDir: string;
  /** Sends a request to the app in-process; paths are relative to http://localhost. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** Bun.serve's native routes, as the server mounts them ahead of the edge. */
  routes: ReturnType<typeof composeGraph>["routes"];
  /** The API_KEYS_FILE written from `keysFile` (null: none). */
  keysFilePath: string | null;
  /** Reads API_KEYS_FILE again, as SIGHUP does. */
  reloadKeys(): boolean;
  /** Stops timers and closes the store (as the server does at shutdown). */
  close(): Promise<void>;
}

export interface TestAppOptions {
  apiKeys?: string[];
  /** API_KEYS_FILE's content (TOML or JSON), written to a temp file; see keysFile() in ./keys.ts. */
  keysFile?: string;
  maxRequestBytes?: number;
  maxExecutionMs?: number;
  /** Extra values to redact (they reach the config as a git token the server never uses). */
  secrets?: string[];
  runner?: FakeRunner;
  allowedRepos?: string[];
  /** git for repository runs; defaults to none, so a test never reaches a network by accident. */
  gitBinary?: string | null;
  gitBaseEnv?: Record<string, string>;
  /** GIT_TOKEN for the repository host. */
  gitToken?: string | null;
  maxConcurrent?: number;
  /** The app's log level (default debug: every line is kept for the test to read). */
  logLevel?: "debug" | "info";
  maxQueued?: number;
  idleTimeoutMs?: number;
  metricsPublic?: boolean;
  docsPublic?: boolean;
  /** An existing DATA_DIR (to reopen its store, as after a restart). */
  dataDir?: string;
  /** A store other than the SQLite one in DATA_DIR (fault injection). */
  store?: RunStore;
  /** How long a run's end waits after its answer (default END_DELAY_MS). */
  endDelayMs?: number;
  /** The repository mirror cache directory (off by default). */
  cacheDir?: string;
  /** A mirror cache shared between several apps (as one server's runs share it). */
  cache?: MirrorCache;
  models?: ModelCatalog;
  /** The sandbox mode the graph is told it runs under (default off; the fake runner contains nothing either way). */
  sandbox?: "off" | "bwrap" | "landlock";
  /** How often the webhook dispatcher looks for due deliveries besides being woken (default 1 s). */
  webhookPollMs?: number;
  /** More variables, as the server would read them (e.g. MAX_RUN_STEPS). */
  env?: Record<string, string>;
}

/** The environment a TestAppOptions stands for: the same configuration path as the server's. */
function envOf(opts: TestAppOptions, workDir: string, dataDir: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: opts.gitBaseEnv?.PATH ?? process.env.PATH ?? "/usr/bin:/bin",
    HOME: dataDir,
    WORK_DIR: workDir,
    DATA_DIR: dataDir,
    OPENCODE_MODEL: "fake/default",
    REPLICA_ID: "test-replica",
    WARM_AGENTS: "0",
    MAX_EXECUTION_TIME: `${opts.maxExecutionMs ?? 60_000}ms`,
    IDLE_TIMEOUT: `${opts.idleTimeoutMs ?? 0}ms`,
    MAX_CONCURRENT_RUNS: String(opts.maxConcurrent ?? 4),
    MAX_QUEUED_RUNS: String(opts.maxQueued ?? 100),
    MAX_REQUEST_SIZE: String(opts.maxRequestBytes ?? 1024 * 1024),
    ALLOWED_REPO_PREFIXES: (opts.allowedRepos ?? ["https://github.com/"]).join(","),
    GIT_BIN: opts.gitBinary ?? "/nonexistent/git",
    GIT_CLONE_DEPTH: "1",
    GIT_TIMEOUT: "30s",
    GIT_AUTHOR_NAME: "test",
    GIT_AUTHOR_EMAIL: "test@localhost",
    MAX_OUTPUT_SIZE: String(1024 * 1024),
    METRICS_PUBLIC: String(opts.metricsPublic ?? false),
    DOCS_PUBLIC: String(opts.docsPublic ?? true),
    REPO_CACHE: String(opts.cacheDir !== undefined || opts.cache !== undefined),
    ...(opts.cacheDir ? { CACHE_DIR: opts.cacheDir } : {}),
    ...(opts.apiKeys?.length ? { API_KEY: opts.apiKeys.join(",") } : {}),
    ...(opts.gitToken ? { GIT_TOKEN: opts.gitToken } : {}),
  };
  for (const [k, v] of Object.entries(opts.gitBaseEnv ?? {})) if (k !== "PATH") env[k] = v;
  return { ...env, ...opts.env };
}

export function testApp(opts: TestAppOptions = {}): TestApp {
  const logs: string[] = [];
  const workDir = tempDir("ocs-work-");
  const dataDir = opts.dataDir ?? tempDir("ocs-data-");
  const env = envOf(opts, workDir, dataDir);
  if (opts.keysFile !== undefined) {
    env.API_KEYS_FILE = path.join(tempDir("ocs-keys-"), "keys.toml");
    writeFileSync(env.API_KEYS_FILE, opts.keysFile);
  }
  const config = loadConfig(env);
  const redactor = new Redactor([...config.secrets, ...(opts.secrets ?? [])]);
  const logger = createLogger({ level: opts.logLevel ?? "debug", redactor, sink: (l) => logs.push(l) });
  const runner = opts.runner ?? new FakeRunner();
  const graph = composeGraph(config, {
    logger,
    redactor,
    runner,
    opencodeVersion: () => "9.9.9",
    sandbox: opts.sandbox ?? "off",
    network: "open",
    ...(opts.models ? { models: opts.models } : {}),
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.cache ? { cache: opts.cache } : {}),
    ...(opts.webhookPollMs ? { webhookPollMs: opts.webhookPollMs } : {}),
    ...(opts.endDelayMs !== undefined ? { endDelayMs: opts.endDelayMs } : {}),
  });
  // What the server does before it listens: recover, then start what waits in the queue.
  void graph.start();
  return {
    app: graph.app,
    runner,
    runs: graph.runs,
    store: graph.store,
    metrics: graph.metrics,
    logs,
    workDir,
    dataDir,
    request: (p, init) => graph.edge(new Request(`http://localhost${p}`, init)),
    routes: graph.routes,
    keysFilePath: env.API_KEYS_FILE ?? null,
    reloadKeys: () => graph.reloadKeys(),
    close: () => graph.stop(),
  };
}

export const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

export const text = (body: string, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "text/plain", ...headers },
  body,
});

/** For tests that need the DATA_DIR's store path. */
export const storeFileOf = (t: TestApp) => path.join(t.dataDir, "opencode-server.db");

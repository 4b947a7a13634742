// Wires config to adapters, the run manager and the app; listens; and shuts everything down in order.
import path from "node:path";
import { createApp, type App } from "./app.ts";
import type { Config } from "./config.ts";
import { createEdge } from "./http/edge.ts";
import { formatDuration } from "./lib/duration.ts";
import { createLogger, type Logger, type LogSink } from "./lib/logger.ts";
import { Redactor } from "./lib/redact.ts";
import { ModelCatalog } from "./opencode/model-catalog.ts";
import type { SandboxMode } from "./sandbox/index.ts";
import { buildAgent, type Agent } from "./agent.ts";
import type { AgentRunner } from "./opencode/types.ts";
import { killRuns } from "./proc/process-tree.ts";
import { refuseSameUserInspection } from "./proc/libc.ts";
import { enableSubreaper, startReaping } from "./proc/reaper.ts";
import { RunStopped } from "./runs/abort.ts";
import { MirrorCache } from "./git/mirror-cache.ts";
import { parsePrefixes } from "./git/url-policy.ts";
import type { RepoDeps } from "./runs/repository.ts";
import { Metrics } from "./metrics/metrics.ts";
import { recoverRuns } from "./runs/recovery.ts";
import { RunManager } from "./runs/run-manager.ts";
import { RunStore } from "./store/run-store.ts";
import { VERSION } from "./version.ts";

export interface ServerOverrides {
  /** Replaces the opencode CLI (route and lifecycle tests). */
  runner?: AgentRunner;
  opencodeVersion?: string;
  /** Where log lines go (default: stdout). */
  logSink?: LogSink;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly app: App;
  readonly runs: RunManager;
  readonly store: RunStore;
  readonly logger: Logger;
  /**
   * Resolves once opencode answered --version and listed its models; rejects with a SetupError when it
   * does not run, or when OPENCODE_MODEL is not among its models.
   */
  readonly ready: Promise<void>;
  /** Drains runs (up to SHUTDOWN_TIMEOUT, or `graceMs`), kills the rest, stops listening. Idempotent. */
  shutdown(graceMs?: number): Promise<void>;
}

const IDLE_TIMEOUT_S = 30;
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** Start-up failures worth one clean log line: a port in use, an address that cannot be bound. */
export class ListenError extends Error {
  override readonly name = "ListenError";
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function listen(config: Config, fetch: (request: Request, server: Bun.Server<undefined>) => Response | Promise<Response>) {
  try {
    return Bun.serve({
      hostname: config.host,
      port: config.port,
      // A second server on the same port must fail to start, not quietly share the traffic.
      reusePort: false,
      development: false,
      // Our own reader enforces MAX_REQUEST_SIZE with a JSON 413; Bun's limit only backs it up.
      maxRequestBodySize: config.maxRequestBytes * 2 + 1024 * 1024,
      idleTimeout: IDLE_TIMEOUT_S,
      fetch,
    });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const where = `${config.host}:${config.port}`;
    if (code === "EADDRINUSE") throw new ListenError(`cannot listen on ${where}: the port is already in use (set PORT to a free one)`);
    if (code === "EADDRNOTAVAIL") throw new ListenError(`cannot listen on ${where}: no such address on this machine (HOST)`);
    if (code === "EACCES") throw new ListenError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`);
    throw new ListenError(`cannot listen on ${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function repoDeps(config: Config, gitBinary: string | null): RepoDeps {
  return {
    gitBinary,
    gitBaseEnv: config.git.baseEnv,
    githubToken: config.git.githubToken,
    gitToken: config.git.gitToken,
    tokenUsername: config.git.tokenUsername,
    cloneDepth: config.git.cloneDepth,
    inactivityTimeoutMs: config.git.inactivityTimeoutMs,
    author: { name: config.git.authorName, email: config.git.authorEmail },
    undeliveredDir: path.join(config.dataDir, "undelivered"),
    maxPatchBytes: config.maxOutputBytes,
    cache: config.git.cache ? new MirrorCache(config.git.cache.dir, config.git.cache.maxBytes) : null,
  };
}

export async function startServer(config: Config, overrides: ServerOverrides = {}): Promise<RunningServer> {
  const redactor = new Redactor(config.secrets);
  const logger = createLogger({ level: config.logLevel, redactor, ...(overrides.logSink ? { sink: overrides.logSink } : {}) });
  const startedAt = Date.now();

  if (!enableSubreaper()) {
    logger.warn("cannot become a child subreaper: processes an agent detaches are found by their run cookie only");
  }
  const stopReaping = startReaping();
  if (!refuseSameUserInspection()) {
    logger.warn("cannot make the server non-dumpable: an agent running as this user could read the server's environment from /proc");
  }
  if (config.apiKeys.length === 0 && !isLoopback(config.host)) {
    logger.warn(`API_KEY is not set and HOST=${config.host} is not a loopback address: anyone who can reach this port can run an agent with a shell; set API_KEY`);
  } else if (config.apiKeys.length === 0) {
    logger.warn(`API_KEY is not set: only this machine can reach the server (HOST=${config.host}); set API_KEY before you listen on a network`);
  } else if (config.apiKeys.some((k) => k.length < 16)) {
    logger.warn("an API_KEY is shorter than 16 characters: use long random keys");
  }

  let opencodeVersion = overrides.opencodeVersion ?? "unknown";
  const models = new ModelCatalog();
  let port = 0;
  // The real agent (sandbox, key proxy, network); tests may bring their own runner instead.
  const agent = overrides.runner ? null : await buildAgent(config, { logger, redactor, models, serverPort: () => port });
  const runner: AgentRunner = overrides.runner ?? (agent as Agent).runner;
  const sandbox: SandboxMode = agent?.sandbox ?? "off";

  const gitBinary = config.git.bin.includes("/") ? config.git.bin : Bun.which(config.git.bin, { PATH: config.git.baseEnv.PATH ?? "" });
  if (!gitBinary) logger.warn("git not found: repository runs will fail until git is installed (or GIT_BIN is set)");

  const store = new RunStore(path.join(config.dataDir, "opencode-server.db"));
  await recoverRuns(store, { workDir: config.workDir, logger });
  const prune = () => {
    const pruned = store.prune(Date.now() - config.runs.retentionMs);
    if (pruned > 0) logger.info("pruned old runs", { runs: pruned, retention: formatDuration(config.runs.retentionMs) });
  };
  prune();
  const pruneTimer = setInterval(prune, PRUNE_INTERVAL_MS);
  pruneTimer.unref();

  const metrics: Metrics = new Metrics({ inFlight: () => runs.inFlight, queued: () => runs.queued });
  const runs: RunManager = new RunManager({
    pipeline: {
      runner,
      workDir: config.workDir,
      redactor,
      defaultModel: config.opencode.defaultModel,
      repo: repoDeps(config, gitBinary),
    },
    store,
    logger,
    maxExecutionMs: config.maxExecutionMs,
    idleTimeoutMs: config.runs.idleTimeoutMs,
    maxConcurrent: config.runs.maxConcurrent,
    maxQueued: config.runs.maxQueued,
    allowedRepos: parsePrefixes(config.git.allowedPrefixes),
    models,
    observer: metrics,
  });
  const app = createApp({
    logger,
    apiKeys: config.apiKeys,
    maxRequestBytes: config.maxRequestBytes,
    version: VERSION,
    opencodeVersion: () => opencodeVersion,
    sandbox,
    network: agent?.network ?? "open",
    startedAt,
    runs,
    store,
    metrics,
    metricsPublic: config.metricsPublic,
    docsPublic: config.docsPublic,
  });
  const edge = createEdge(app, logger, (method, route, status, seconds) => metrics.httpRequest(method, route, status, seconds));
  const server = listen(config, edge);
  port = server.port as number;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  logger.info("listening", {
    url,
    version: VERSION,
    max_execution_time: formatDuration(config.maxExecutionMs),
    max_request_size: config.maxRequestBytes,
    work_dir: config.workDir,
    auth: config.apiKeys.length > 0 ? `${config.apiKeys.length} key(s)` : "disabled",
    sandbox,
    network: agent?.network ?? "open",
    max_concurrent_runs: config.runs.maxConcurrent,
    max_queued_runs: config.runs.maxQueued,
    store: store.file,
    allowed_repo_prefixes: config.git.allowedPrefixes,
    git: gitBinary,
  });

  let closing: Promise<void> | undefined;
  // Resolved by a second shutdown(0) while the first still waits out its grace period.
  let hurry: () => void = () => {};
  const hurried = new Promise<false>((resolve) => (hurry = () => resolve(false)));
  const shutdown = (graceMs = config.shutdownMs): Promise<void> => {
    if (graceMs === 0) hurry();
    return (closing ??= (async () => {
      runs.beginDrain();
      logger.info("shutting down", { runs_in_flight: runs.inFlight, grace: formatDuration(graceMs) });
      if (!(await Promise.race([runs.waitIdle(graceMs), hurried]))) {
        logger.warn("stopping runs still in flight", { runs_in_flight: runs.inFlight });
        runs.abortAll(new RunStopped("shutting_down", "The server shut down before the run finished (SHUTDOWN_TIMEOUT)"));
        if (!(await runs.waitIdle(10_000))) {
          const killed = await killRuns(runs.activeRunIds());
          logger.error("runs did not stop in time; killed their processes", { runs: runs.activeRunIds(), processes: killed });
        }
      }
      // Answers to the runs just stopped are on their way out: give them a moment, then close.
      await Promise.race([server.stop(false), Bun.sleep(1000)]);
      await server.stop(true);
      stopReaping();
      agent?.stop();
      clearInterval(pruneTimer);
      store.close();
      logger.info("shutdown complete");
    })());
  };

  // Probed once the server listens: opencode --version takes up to a second, `opencode models` ~3 s.
  const ready = agent ? agent.probe().then(({ version }) => void (opencodeVersion = version)) : Promise.resolve();
  // The caller decides what a failed probe means (main.ts exits); never an unhandled rejection.
  ready.catch(() => {});
  return { url, port, app, runs, store, logger, ready, shutdown };
}

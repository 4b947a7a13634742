// Starts the server: the agent, the object graph (compose.ts), the listener; and shuts everything down in order.
import type { App } from "./app.ts";
import { buildAgent, type Agent } from "./agent.ts";
import { composeGraph, openStore } from "./compose.ts";
import type { Config } from "./config.ts";
import { formatDuration } from "./lib/duration.ts";
import { createLogger, type Logger, type LogSink } from "./lib/logger.ts";
import { Redactor } from "./lib/redact.ts";
import { ModelCatalog } from "./opencode/model-catalog.ts";
import type { AgentRunner } from "./opencode/types.ts";
import { refuseSameUserInspection } from "./proc/libc.ts";
import { killRuns } from "./proc/process-tree.ts";
import { enableSubreaper, startReaping } from "./proc/reaper.ts";
import { RunStopped } from "./runs/abort.ts";
import type { RunService } from "./runs/service.ts";
import type { RunStore } from "./runs/store.ts";
import type { SandboxMode } from "./sandbox/index.ts";
import { VERSION } from "./version.ts";

export interface ServerOverrides {
  /** Replaces the opencode CLI (route and lifecycle tests). */
  runner?: AgentRunner;
  /** Replaces the configured run store (fault injection). */
  store?: RunStore;
  opencodeVersion?: string;
  /** Where log lines go (default: stdout). */
  logSink?: LogSink;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly app: App;
  readonly runs: RunService;
  readonly store: RunStore;
  readonly logger: Logger;
  /** Reads API_KEYS_FILE again (SIGHUP); false when it was not (no file, or a bad one: the keys in use stay). */
  reloadKeys(): boolean;
  /**
   * Resolves once opencode answered --version and listed its models; rejects with a SetupError when it
   * does not run, or when OPENCODE_MODEL is not among its models.
   */
  readonly ready: Promise<void>;
  /** Drains runs (up to SHUTDOWN_TIMEOUT, or `graceMs`), kills the rest, stops listening. Idempotent. */
  shutdown(graceMs?: number): Promise<void>;
}

const IDLE_TIMEOUT_S = 30;

/** Start-up failures worth one clean log line: a port in use, an address that cannot be bound. */
export class ListenError extends Error {
  override readonly name = "ListenError";
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

type Handler = (request: Request, server: Bun.Server<undefined>) => Response | Promise<Response>;

function listen(config: Config, fetch: Handler, routes: Record<string, { GET: Handler; HEAD: Handler }>) {
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
      routes,
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

export async function startServer(config: Config, overrides: ServerOverrides = {}): Promise<RunningServer> {
  const redactor = new Redactor(config.secrets);
  const base = createLogger({ level: config.logLevel, redactor, ...(overrides.logSink ? { sink: overrides.logSink } : {}) });
  // Many replicas on one store: every line says which one wrote it, so an operator finds a run's machine.
  const logger = config.store.databaseUrl ? base.child({ replica: config.replicaId }) : base;

  if (!enableSubreaper()) {
    logger.warn("cannot become a child subreaper: processes an agent detaches are found by their run cookie only");
  }
  const stopReaping = startReaping();
  if (!refuseSameUserInspection()) {
    logger.warn("cannot make the server non-dumpable: an agent running as this user could read the server's environment from /proc");
  }
  const keyed = config.apiKeys.length > 0 || config.keysFile !== null;
  if (!keyed && !isLoopback(config.host)) {
    logger.warn(`API_KEY is not set and HOST=${config.host} is not a loopback address: anyone who can reach this port can run an agent with a shell; set API_KEY`);
  } else if (!keyed) {
    logger.warn(`API_KEY is not set: only this machine can reach the server (HOST=${config.host}); set API_KEY before you listen on a network`);
  } else if (config.apiKeys.some((k) => k.length < 16)) {
    logger.warn("an API_KEY is shorter than 16 characters: use long random keys");
  }

  let opencodeVersion = overrides.opencodeVersion ?? "unknown";
  const models = new ModelCatalog();
  let port = 0;
  // The real agent (sandbox, key proxy, network); tests may bring their own runner instead. The store opens while
  // the sandbox is probed (a bubblewrap process: ~10 ms of each start, bench 6).
  const building = overrides.runner ? Promise.resolve(null) : buildAgent(config, { logger, redactor, models, serverPort: () => port });
  const opening = overrides.store ? Promise.resolve(overrides.store) : openStore(config, logger);
  // Its failure is reported below, once the agent is built; until then it must not count as unhandled.
  opening.catch(() => {});
  let agent: Agent | null;
  try {
    agent = await building;
  } catch (err) {
    // Reported now, not after a database's connect timeout: a store that still opens is closed once it has.
    if (!overrides.store) void opening.then((s) => s.close(), () => {});
    stopReaping();
    throw err;
  }
  let store: RunStore;
  try {
    store = await opening;
  } catch (err) {
    await agent?.stop();
    stopReaping();
    throw err;
  }
  const runner: AgentRunner = overrides.runner ?? (agent as Agent).runner;
  const sandbox: SandboxMode = agent?.sandbox ?? "off";
  const graph = composeGraph(config, { logger, redactor, runner, models, opencodeVersion: () => opencodeVersion, sandbox, network: agent?.network ?? "open", store });
  const { app, edge, routes, runs } = graph;
  if (!graph.gitBinary) logger.warn("git not found: repository runs will fail until git is installed (or GIT_BIN is set)");
  await graph.start();
  const server = listen(config, edge, routes);
  port = server.port as number;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  logger.info("listening", {
    url,
    version: VERSION,
    max_execution_time: formatDuration(config.maxExecutionMs),
    max_request_size: config.maxRequestBytes,
    work_dir: config.workDir,
    auth: keyed ? `${graph.keys.size} key(s)` : "disabled",
    sandbox,
    network: agent?.network ?? "open",
    max_concurrent_runs: config.runs.maxConcurrent,
    max_queued_runs: config.runs.maxQueued,
    store: store.location,
    replica: config.replicaId,
    allowed_repo_prefixes: config.git.allowedPrefixes,
    git: graph.gitBinary,
  });

  let closing: Promise<void> | undefined;
  // Resolved by a second shutdown(0) while the first still waits out its grace period.
  let hurry: () => void = () => {};
  const hurried = new Promise<false>((resolve) => (hurry = () => resolve(false)));
  const shutdown = (graceMs = config.shutdownMs): Promise<void> => {
    if (graceMs === 0) hurry();
    return (closing ??= (async () => {
      await runs.beginDrain();
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
      await agent?.stop();
      stopReaping();
      await graph.stop();
      logger.info("shutdown complete");
    })());
  };

  // Probed once the server listens: opencode --version takes up to a second, `opencode models` ~3 s.
  const ready = agent ? agent.probe().then(({ version }) => void (opencodeVersion = version)) : Promise.resolve();
  // The caller decides what a failed probe means (main.ts exits); never an unhandled rejection.
  ready.catch(() => {});
  return { url, port, app, runs, store, logger, ready, shutdown, reloadKeys: () => graph.reloadKeys() };
}

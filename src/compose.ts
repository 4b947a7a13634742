// The one place the object graph is built — store, event log, scheduler, service, metrics, app — for the server and the tests alike.
import { existsSync } from "node:fs";
import path from "node:path";
import { createApp, type App } from "./app.ts";
import { KeyRegistry, reloadKeys } from "./auth/keys.ts";
import type { Config } from "./config.ts";
import { MirrorCache } from "./git/mirror-cache.ts";
import { parsePrefixes, repositoryUrlOf } from "./git/url-policy.ts";
import { createEdge } from "./http/edge.ts";
import { nativeHealthRoute } from "./modules/health/native-route.ts";
import type { HealthSource } from "./modules/health/service.ts";
import { formatDuration } from "./lib/duration.ts";
import type { Logger } from "./lib/logger.ts";
import type { Redactor } from "./lib/redact.ts";
import { Metrics } from "./metrics/metrics.ts";
import type { NetworkMode } from "./network/agent-network.ts";
import type { ModelCatalog } from "./opencode/model-catalog.ts";
import type { AgentRunner } from "./opencode/types.ts";
import { EventLog } from "./runs/event-log.ts";
import { executeRun } from "./runs/pipeline.ts";
import { recoverRuns } from "./runs/recovery.ts";
import { removalsSettled } from "./runs/workspace.ts";
import { spareCount, WorkspaceSpares } from "./runs/workspace-spares.ts";
import { RepoSpares } from "./runs/repo-spares.ts";
import type { RepoDeps } from "./runs/repository.ts";
import { Leases } from "./runs/leases.ts";
import { Scheduler } from "./runs/scheduler.ts";
import { RunService } from "./runs/service.ts";
import { StoreHealth } from "./runs/store-health.ts";
import type { RunStore } from "./runs/store.ts";
import type { SandboxMode } from "./sandbox/types.ts";
import { PgRunStore } from "./store/pg-store.ts";
import { SqliteRunStore } from "./store/sqlite-store.ts";
import { VERSION } from "./version.ts";
import { viewOf } from "./modules/runs/views.ts";
import { diffAvailable } from "./runs/outcome.ts";
import { WebhookDispatcher } from "./webhooks/dispatcher.ts";

const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

export interface GraphDeps {
  logger: Logger;
  redactor: Redactor;
  runner: AgentRunner;
  models?: ModelCatalog;
  opencodeVersion: () => string;
  sandbox: SandboxMode;
  network: NetworkMode;
  /** Another store than the configured one (fault injection in tests). */
  store?: RunStore;
  /** A mirror cache shared with another graph (tests that run several apps on one cache). */
  cache?: MirrorCache;
  /** Forge API timeouts and retries (tests shorten them). */
  forgeHttp?: RepoDeps["forgeHttp"];
  /** How often the webhook outbox is polled (tests). */
  webhookPollMs?: number;
  /** How long a run's end waits after its answer (tests lengthen it; END_DELAY_MS otherwise). */
  endDelayMs?: number;
}

export interface Graph {
  app: App;
  /** What Bun.serve calls: the app behind request ids, logging and metrics. */
  edge: ReturnType<typeof createEdge>;
  /** Bun.serve's native routes, answered before the edge (GET /health). */
  routes: { "/health": ReturnType<typeof nativeHealthRoute> };
  runs: RunService;
  store: RunStore;
  metrics: Metrics;
  gitBinary: string | null;
  keys: KeyRegistry;
  /**
   * Reads API_KEYS_FILE again (SIGHUP): a good file replaces the keys at once, runs in flight go on; a bad
   * one keeps the keys there were and says why in the log. True when the keys were replaced.
   */
  reloadKeys(): boolean;
  /** Ends what a crashed server left running, then starts what waits in the queue. */
  start(): Promise<void>;
  /** Timers off, the store closed (after start() has settled). */
  stop(): Promise<void>;
}

/** git on PATH or at GIT_BIN; null when it is not there (repository runs then fail, saying so). */
function findGit(config: Config): string | null {
  if (config.git.bin.includes("/")) return existsSync(config.git.bin) ? config.git.bin : null;
  return Bun.which(config.git.bin, { PATH: config.git.baseEnv.PATH ?? "" });
}

export function repoDeps(config: Config, gitBinary: string | null, cache?: MirrorCache, forgeHttp: RepoDeps["forgeHttp"] = {}): RepoDeps {
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
    cache: cache ?? (config.git.cache ? new MirrorCache(config.git.cache.dir, config.git.cache.maxBytes) : null),
    forges: config.forges,
    forgeHttp,
    userAgent: `opencode-server/${VERSION}`,
    publicUrl: config.publicUrl,
  };
}

/** The configured run store: SQLite in DATA_DIR, or Postgres (waiting for it up to DATABASE_CONNECT_TIMEOUT, then rejecting). */
export async function openStore(config: Config, logger: Logger): Promise<RunStore> {
  const url = config.store.databaseUrl;
  if (!url) return new SqliteRunStore(path.join(config.dataDir, "opencode-server.db"));
  const store = await PgRunStore.open(url, { connectTimeoutMs: config.store.connectTimeoutMs, logger });
  logger.info("run store: Postgres, shared by every replica on it", { store: store.location, replica: config.replicaId, lease_timeout: formatDuration(config.store.leaseMs) });
  return store;
}

export function composeGraph(config: Config, deps: GraphDeps): Graph {
  const { logger, redactor } = deps;
  const gitBinary = findGit(config);
  const keys = new KeyRegistry(config.apiKeys, config.keysFile?.entries ?? [], config.keysFile?.path ?? null);
  const store = deps.store ?? new SqliteRunStore(path.join(config.dataDir, "opencode-server.db"));
  const events = new EventLog(store, redactor);
  const health = new StoreHealth(store, logger);
  health.flush = (drop) => events.retry(drop);
  events.dropped = (runId, n, err) => logger.error("a run's held events could not be stored and were dropped", { run_id: runId, events: n, error: err });
  health.backlogged = () => events.backlog > 0;
  events.failing = () => health.problem !== null;
  // Workspaces borrow the mirror's objects only where a sandbox keeps the agent from writing them.
  const baseRepo = repoDeps(config, gitBinary, deps.cache, deps.forgeHttp);
  // Repository workspaces checked out ahead (REPO_SPARES): only where they borrow the mirror's objects.
  const repoSpares = new RepoSpares({
    workDir: config.workDir,
    size: deps.sandbox === "off" ? 0 : config.git.repoSpares,
    cache: baseRepo.cache,
    git: gitBinary ? { binary: gitBinary, baseEnv: config.git.baseEnv, inactivityTimeoutMs: config.git.inactivityTimeoutMs } : null,
    logger,
  });
  const repo = { ...baseRepo, shareMirror: deps.sandbox !== "off", spares: repoSpares };
  // Workspaces made ahead: a run's start renames one into place (bench 1).
  const workspaces = new WorkspaceSpares({
    workDir: config.workDir,
    size: spareCount(config.runs.maxConcurrent),
    furnish: (home) => deps.runner.furnish?.(home) ?? Promise.resolve(null),
    onError: (err) => logger.warn("could not make a workspace ahead: runs make their own meanwhile", { work_dir: config.workDir, error: err }),
  });
  let service: RunService | undefined;
  const metrics = new Metrics({ inFlight: () => scheduler.inFlight, queued: () => service?.queuedNow() ?? Promise.resolve(0), warm: () => deps.runner.warmStats?.() });
  const scheduler: Scheduler = new Scheduler({
    store,
    events,
    health,
    logger,
    observer: metrics,
    execute: (spec, signal, emit, gate) => executeRun({ runner: deps.runner, workDir: config.workDir, workspaces, redactor, defaultModel: config.opencode.defaultModel, repo }, spec, signal, emit, gate),
    repoOf: (r) => (r.repository ? { url: repositoryUrlOf(new URL(r.repository.url)), branch: r.repository.branch, base: r.repository.base, push: r.repository.push, pullRequest: r.repository.pullRequest } : null),
    defaultModel: config.opencode.defaultModel,
    maxConcurrent: config.runs.maxConcurrent,
    maxExecutionMs: config.maxExecutionMs,
    idleTimeoutMs: config.runs.idleTimeoutMs,
    onFinished: (id, outcome) => service?.finished(id, outcome),
    // Its deliveries are written with its end: after the answer, on this server's own store.
    onRecorded: () => webhooks?.wake(),
    replica: config.replicaId,
    leaseMs: config.store.leaseMs,
    keepSessions: config.runs.keepSessions,
    ...(deps.endDelayMs !== undefined ? { endDelayMs: deps.endDelayMs } : {}),
  });
  const hooks = config.webhooks;
  const webhooks = hooks.secret
    ? new WebhookDispatcher({
        store,
        logger,
        observer: metrics,
        present: async (record) => viewOf(record, null, await store.children(record.id), config.forges, await diffAvailable(store, record)),
        secret: hooks.secret,
        prefixes: hooks.allowedPrefixes,
        serverUrl: hooks.url,
        timeoutMs: hooks.timeoutMs,
        maxAttempts: hooks.maxAttempts,
        retryBaseMs: hooks.retryBaseMs,
        retryMaxMs: hooks.retryMaxMs,
        concurrency: hooks.concurrency,
        userAgent: `opencode-server/${VERSION}`,
        ...(deps.webhookPollMs ? { pollMs: deps.webhookPollMs } : {}),
      })
    : null;
  const leases = store.shared ? new Leases({ store, events, scheduler, health, logger, replica: config.replicaId, leaseMs: config.store.leaseMs }) : null;
  health.onRecovered = () => scheduler.resume();
  service = new RunService({
    store,
    events,
    scheduler,
    health,
    logger,
    allowedRepos: parsePrefixes(config.git.allowedPrefixes),
    ...(deps.models ? { models: deps.models } : {}),
    defaultModel: config.opencode.defaultModel,
    maxQueued: config.runs.maxQueued,
    replica: config.replicaId,
    ceilings: config.runs.ceilings,
    keepSessions: config.runs.keepSessions,
    webhooks: { enabled: hooks.secret !== null, prefixes: hooks.allowedPrefixes, events: hooks.events, server: hooks.url !== null },
    forges: config.forges,
  });
  const healthSource: HealthSource = {
    version: VERSION,
    opencodeVersion: deps.opencodeVersion,
    auth: keys.enabled ? "api_key" : "none",
    sandbox: deps.sandbox,
    network: deps.network,
    startedAt: Date.now(),
    inFlight: () => service.inFlight,
    queued: () => service.queuedNow(),
    queuedIfFresh: () => service.queuedIfFresh(),
    store: { kind: store.kind, replica: config.replicaId },
    draining: () => service.isDraining,
    storeProblem: () => service.storeProblem,
  };
  const app = createApp({
    logger,
    keys,
    maxRequestBytes: config.maxRequestBytes,
    version: VERSION,
    runs: service,
    health: healthSource,
    metrics,
    metricsPublic: config.metricsPublic,
    docsPublic: config.docsPublic,
    dashboard: config.dashboard,
  });
  const edge = createEdge(app, logger, (method, route, status, seconds) => metrics.httpRequest(method, route, status, seconds));
  metrics.beforeRender(edge.flush);
  // Served by Bun.serve itself, ahead of the app (the app's own /health stays for everything else: /health/, tests in-process).
  const routes = { "/health": nativeHealthRoute(healthSource, logger, (method, status, seconds) => metrics.healthRequest(method, status, seconds), edge) };

  const prune = async () => {
    try {
      const pruned = await store.prune(Date.now() - config.runs.retentionMs);
      if (pruned > 0) logger.info("pruned old runs", { runs: pruned, retention: formatDuration(config.runs.retentionMs) });
    } catch (err) {
      health.fault(err);
    }
  };
  let started: Promise<void> = Promise.resolve();
  let pruneTimer: ReturnType<typeof setInterval> | undefined;
  const runs = service;
  return {
    app,
    edge,
    routes,
    runs,
    store,
    metrics,
    gitBinary,
    keys,
    reloadKeys: () => reloadKeys(keys, logger),
    start() {
      started = (async () => {
        try {
          await recoverRuns(store, events, { workDir: config.workDir, logger, replica: config.replicaId });
        } catch (err) {
          // The queue still runs; the runs left running are ended by the next start (or their lease).
          health.fault(err);
          logger.error("could not recover the runs a previous process left running", { error: err });
        }
        workspaces.start();
        repoSpares.start();
        await prune();
        pruneTimer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
        pruneTimer.unref();
        leases?.start();
        webhooks?.start();
        scheduler.pump();
      })();
      return started;
    },
    async stop() {
      await started;
      clearInterval(pruneTimer);
      leases?.stop();
      health.stop();
      await scheduler.settled();
      // Ends already answered are written before the store closes.
      await scheduler.endsWritten();
      await workspaces.stop();
      await repoSpares.stop();
      // Workspaces of ended runs still being deleted: none is left behind.
      await removalsSettled();
      await webhooks?.stop();
      await store.close();
    },
  };
}

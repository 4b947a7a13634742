// Builds the app in-process around a fake runner; requests go through the same edge handler the server uses.
import { createEdge } from "../../src/http/edge.ts";
import path from "node:path";
import { createApp } from "../../src/app.ts";
import { parsePrefixes } from "../../src/git/url-policy.ts";
import type { MirrorCache } from "../../src/git/mirror-cache.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { RunStore } from "../../src/store/run-store.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import { RunManager } from "../../src/runs/run-manager.ts";
import { FakeRunner } from "./fake-runner.ts";
import { tempDir } from "./temp.ts";

export interface TestApp {
  app: ReturnType<typeof createApp>;
  runner: FakeRunner;
  runs: RunManager;
  store: RunStore;
  metrics: Metrics;
  logs: string[];
  workDir: string;
  /** Sends a request to the app in-process; paths are relative to http://localhost. */
  request(path: string, init?: RequestInit): Promise<Response>;
}

export interface TestAppOptions {
  apiKeys?: string[];
  maxRequestBytes?: number;
  maxExecutionMs?: number;
  secrets?: string[];
  runner?: FakeRunner;
  allowedRepos?: string[];
  /** git for repository runs; defaults to none, so a test never reaches a network by accident. */
  gitBinary?: string | null;
  gitBaseEnv?: Record<string, string>;
  /** GIT_TOKEN for the repository host. */
  gitToken?: string | null;
  maxConcurrent?: number;
  maxQueued?: number;
  idleTimeoutMs?: number;
  metricsPublic?: boolean;
  docsPublic?: boolean;
  /** An existing store (to reopen a database, as after a restart). */
  store?: RunStore;
  /** The repository mirror cache (off by default). */
  cache?: MirrorCache;
}

export function testApp(opts: TestAppOptions = {}): TestApp {
  const logs: string[] = [];
  const redactor = new Redactor([...(opts.apiKeys ?? []), ...(opts.secrets ?? [])]);
  const logger = createLogger({ level: "debug", redactor, sink: (l) => logs.push(l) });
  const runner = opts.runner ?? new FakeRunner();
  const workDir = tempDir("ocs-work-");
  const store = opts.store ?? new RunStore(path.join(tempDir("ocs-store-"), "runs.db"));
  const metrics: Metrics = new Metrics({ inFlight: () => runs.inFlight, queued: () => runs.queued });
  const runs: RunManager = new RunManager({
    pipeline: {
      runner,
      workDir,
      redactor,
      defaultModel: "fake/default",
      repo: {
        gitBinary: opts.gitBinary ?? null,
        gitBaseEnv: opts.gitBaseEnv ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        githubToken: null,
        gitToken: opts.gitToken ?? null,
        tokenUsername: "x-access-token",
        cloneDepth: 1,
        inactivityTimeoutMs: 30_000,
        author: { name: "test", email: "test@localhost" },
        undeliveredDir: path.join(tempDir("ocs-data-"), "undelivered"),
        maxPatchBytes: 1024 * 1024,
        cache: opts.cache ?? null,
      },
    },
    store,
    maxExecutionMs: opts.maxExecutionMs ?? 60_000,
    idleTimeoutMs: opts.idleTimeoutMs ?? 0,
    maxConcurrent: opts.maxConcurrent ?? 4,
    maxQueued: opts.maxQueued ?? 100,
    logger,
    allowedRepos: parsePrefixes(opts.allowedRepos ?? ["https://github.com/"]),
    observer: metrics,
  });
  const app = createApp({
    logger,
    apiKeys: opts.apiKeys ?? [],
    maxRequestBytes: opts.maxRequestBytes ?? 1024 * 1024,
    version: "0.0.0-test",
    opencodeVersion: () => "9.9.9",
    sandbox: "off",
    network: "open",
    startedAt: Date.now(),
    runs,
    store,
    metrics,
    metricsPublic: opts.metricsPublic ?? false,
    docsPublic: opts.docsPublic ?? true,
  });
  const edge = createEdge(app, logger, (method, route, status, seconds) => metrics.httpRequest(method, route, status, seconds));
  return {
    app,
    runner,
    runs,
    store,
    metrics,
    logs,
    workDir,
    request: (path, init) => edge(new Request(`http://localhost${path}`, init)),
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

// Prometheus metrics with prom-client: runs by outcome, durations, queue, tokens and cost, git failures, HTTP, process.
import { readdirSync } from "node:fs";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { BoundHistogram, type BoundSeries } from "./bound-histogram.ts";
import type { WarmStats } from "../opencode/types.ts";
import type { RunStatus } from "../runs/model.ts";
import type { RunObserver } from "../runs/scheduler.ts";
import type { RunResult } from "../runs/result.ts";

export interface MetricsSource {
  inFlight(): number;
  /** Over all replicas on a shared store. */
  queued(): Promise<number>;
  /** The warm pool (WARM_AGENTS), when there is one. */
  warm?(): WarmStats | undefined;
}

const PREFIX = "opencode_server_";

/** One /health series: its probes since the last scrape, and its bound duration series. */
interface Probe {
  method: string;
  status: number;
  labels: { method: string; route: string; status: string };
  pending: number;
  time: BoundSeries;
}

export class Metrics implements RunObserver {
  readonly registry = new Registry();
  private readonly renderHooks: (() => void)[] = [];
  private readonly runs: Counter<"status" | "code">;
  private readonly duration: Histogram<"status">;
  private readonly tokens: Counter<"kind">;
  private readonly cost: Counter;
  private readonly keyRuns: Counter<"key" | "status">;
  private readonly keyCost: Counter<"key">;
  private readonly keyTokens: Counter<"key">;
  private readonly gitFailures: Counter<"operation">;
  private readonly egress: Counter<"outcome">;
  private readonly budgetStops: Counter<"cap" | "scope">;
  private readonly pullRequests: Counter<"result">;
  private readonly webhookAttempts: Counter<"event" | "outcome">;
  private readonly webhookDuration: Histogram<"event">;
  private readonly http: Counter<"method" | "route" | "status">;
  private readonly httpDuration: BoundHistogram<"method" | "route">;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    this.runs = new Counter({ name: `${PREFIX}runs_total`, help: "Runs finished, by final status and error code", labelNames: ["status", "code"], registers });
    this.duration = new Histogram({
      name: `${PREFIX}run_duration_seconds`,
      help: "Duration of runs that started, from start to end",
      labelNames: ["status"],
      buckets: [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    new Gauge({ name: `${PREFIX}queue_depth`, help: "Runs waiting for a slot", registers, async collect() { this.set(await source.queued()); } });
    new Gauge({ name: `${PREFIX}warm_agents_ready`, help: "Warm agents booted and waiting for a run (WARM_AGENTS is the target)", registers, collect() { this.set(source.warm?.()?.ready ?? 0); } });
    new Gauge({
      name: `${PREFIX}warm_agent_runs`,
      help: "Runs since start-up that took a warm agent (warm) or found none ready and used opencode run (cold), while the pool was on",
      labelNames: ["mode"],
      registers,
      collect() {
        const w = source.warm?.();
        this.set({ mode: "warm" }, w?.servedWarm ?? 0);
        this.set({ mode: "cold" }, w?.servedCold ?? 0);
      },
    });
    new Gauge({ name: `${PREFIX}warm_agent_boot_failures`, help: "Warm agents that failed to boot since start-up", registers, collect() { this.set(source.warm?.()?.bootFailures ?? 0); } });
    new Gauge({ name: `${PREFIX}runs_in_flight`, help: "Runs whose agent is running", registers, collect() { this.set(source.inFlight()); } });
    this.tokens = new Counter({ name: `${PREFIX}tokens_total`, help: "Tokens used by runs, from opencode's step-finish events", labelNames: ["kind"], registers });
    this.cost = new Counter({ name: `${PREFIX}cost_usd_total`, help: "Cost of runs in USD, as opencode computed it", registers });
    // Per API key (its name; "none" without keys): as many series as there are keys.
    this.keyRuns = new Counter({ name: `${PREFIX}key_runs_total`, help: "Runs finished, by the API key whose run it is (its name) and final status", labelNames: ["key", "status"], registers });
    this.keyCost = new Counter({ name: `${PREFIX}run_cost_usd_total`, help: "Cost of runs in USD, by the API key whose run it is", labelNames: ["key"], registers });
    this.keyTokens = new Counter({ name: `${PREFIX}key_tokens_total`, help: "Input + output tokens of runs, by the API key whose run it is", labelNames: ["key"], registers });
    this.gitFailures = new Counter({ name: `${PREFIX}git_failures_total`, help: "Repository clones and pushes that failed", labelNames: ["operation"], registers });
    this.egress = new Counter({ name: `${PREFIX}egress_total`, help: "Agents' connections through the egress proxy, allowed or refused", labelNames: ["outcome"], registers });
    this.budgetStops = new Counter({ name: `${PREFIX}runs_budget_exceeded_total`, help: "Runs stopped by a budget, by the cap that stopped them (max_cost_usd, max_tokens, max_steps) and its scope (run or thread)", labelNames: ["cap", "scope"], registers });
    this.pullRequests = new Counter({ name: `${PREFIX}pull_requests_total`, help: "Pull requests of runs: created, updated (one was open from the branch), failed", labelNames: ["result"], registers });
    this.webhookAttempts = new Counter({
      name: `${PREFIX}webhook_attempts_total`,
      help: "Webhook delivery attempts by event and outcome: delivered, retry (failed, another attempt is scheduled), failed (the last attempt failed), refused (the destination is not allowed)",
      labelNames: ["event", "outcome"],
      registers,
    });
    this.webhookDuration = new Histogram({
      name: `${PREFIX}webhook_attempt_duration_seconds`,
      help: "Duration of webhook delivery attempts",
      labelNames: ["event"],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.http = new Counter({
      name: `${PREFIX}http_requests_total`,
      help: "HTTP requests by route pattern and status",
      labelNames: ["method", "route", "status"],
      registers,
      // Probes counted in plain numbers join their series when scraped: exact, and off the probe's path.
      collect: () => {
        for (const p of this.probes.values()) {
          if (p.pending > 0) this.http.inc(p.labels, p.pending);
          p.pending = 0;
        }
      },
    });
    this.httpDuration = new BoundHistogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: "HTTP request duration by route pattern",
      labelNames: ["method", "route"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers,
    });
    // Our own process gauges: prom-client's default Node.js metrics report nonsense under Bun.
    new Gauge({ name: "process_resident_memory_bytes", help: "Resident memory size in bytes", registers, collect() { this.set(process.memoryUsage.rss()); } });
    new Gauge({
      name: "process_open_fds",
      help: "Number of open file descriptors",
      registers,
      collect() {
        try {
          this.set(readdirSync("/proc/self/fd").length);
        } catch {
          // Not on Linux.
        }
      },
    });
    new Gauge({ name: "process_start_time_seconds", help: "Start time of the process since the Unix epoch, in seconds", registers }).set(
      Math.round(Date.now() / 1000 - process.uptime()),
    );
  }

  runFinished(result: RunResult, status: RunStatus, started: boolean, owner: string | null = null): void {
    this.runs.inc({ status, code: result.code ?? "none" });
    const key = owner ?? "none";
    this.keyRuns.inc({ key, status });
    // Zero increments still make the series, so a key that spent nothing shows 0 rather than nothing.
    this.keyCost.inc({ key }, result.usage.cost);
    this.keyTokens.inc({ key }, result.usage.input_tokens + result.usage.output_tokens);
    if (started) this.duration.observe({ status }, result.durationMs / 1000);
    const u = result.usage;
    for (const [kind, n] of [["input", u.input_tokens], ["output", u.output_tokens], ["reasoning", u.reasoning_tokens], ["cache_read", u.cache_read_tokens], ["cache_write", u.cache_write_tokens]] as const) {
      if (n > 0) this.tokens.inc({ kind }, n);
    }
    if (u.cost > 0) this.cost.inc(u.cost);
    if (result.code === "clone_failed") this.gitFailures.inc({ operation: "clone" });
    if (result.code === "push_failed" || (result.git?.deliveryError ?? null) !== null) this.gitFailures.inc({ operation: "push" });
    const exceeded = result.code === "budget_exceeded" ? result.budget?.exceeded : null;
    if (exceeded) this.budgetStops.inc({ cap: exceeded.cap, scope: exceeded.scope });
    const pr = result.git?.pullRequest;
    if (pr) this.pullRequests.inc({ result: pr.action });
    else if (result.code === "pull_request_failed") this.pullRequests.inc({ result: "failed" });
    for (const e of result.egress) this.egress.inc({ outcome: e.allowed ? "allowed" : "refused" }, e.count);
  }

  webhookAttempt(event: string, outcome: "delivered" | "retry" | "failed" | "refused", seconds: number): void {
    this.webhookAttempts.inc({ event, outcome });
    this.webhookDuration.observe({ event }, seconds);
  }

  /**
   * GET /health's probes: prom-client's Counter.inc costs ~0.6 µs, an eighth of a probe's whole handling
   * (bench 2), so they are counted in plain numbers and added to the counter when it is scraped; the
   * duration histogram's series is bound once (prom-client hashes a label set per observation: BoundHistogram).
   */
  private readonly probes = new Map<string, Probe>();
  /** The series the last probe went to: nearly every probe is the same GET answered 200 (no key to build). */
  private lastProbe: Probe | null = null;

  private durationOf(method: string, route: string): BoundSeries {
    return this.httpDuration.bind(`${method} ${route}`, { method, route });
  }

  healthRequest(method: string, status: number, seconds: number): void {
    let p = this.lastProbe;
    if (!p || p.method !== method || p.status !== status) {
      const key = `${method} ${status}`;
      let found = this.probes.get(key);
      if (!found) this.probes.set(key, (found = { method, status, labels: { method, route: "/health", status: String(status) }, pending: 0, time: this.durationOf(method, "/health") }));
      this.lastProbe = p = found;
    }
    p.pending++;
    p.time.observe(seconds);
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.http.inc({ method, route, status: String(status) });
    this.durationOf(method, route).observe(seconds);
  }

  /** Counts made later (see createEdge) are made before a scrape renders. */
  beforeRender(hook: () => void): void {
    this.renderHooks.push(hook);
  }

  render(): Promise<string> {
    for (const hook of this.renderHooks) hook();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

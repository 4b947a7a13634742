// Keeps WARM_AGENTS warm agents booted: one boot at a time, single use, idle ones recycled, dead ones replaced, all killed at stop.
import type { Logger } from "../lib/logger.ts";
import type { WarmStats } from "./types.ts";
import type { WarmAgent } from "./warm-agent.ts";

export interface WarmPoolOptions {
  target: number;
  /** An agent unused for this long is replaced (its opencode instance and key-proxy registration are that old). */
  maxIdleMs: number;
  boot: (signal: AbortSignal) => Promise<WarmAgent>;
  logger: Logger;
}

const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 5 * 60_000;

export class WarmPool {
  private readonly ready: WarmAgent[] = [];
  private readonly stopping = new AbortController();
  private filling: Promise<void> | null = null;
  private started = false;
  private failuresInRow = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setInterval> | undefined;
  private readonly stats = { servedWarm: 0, servedCold: 0, bootFailures: 0 };

  constructor(private readonly opts: WarmPoolOptions) {}

  /** Begins booting (after the server listens and opencode's probe passed: never delays readiness). */
  start(): void {
    if (this.started || this.opts.target === 0) return;
    this.started = true;
    const every = Math.max(1000, Math.min(60_000, Math.floor(this.opts.maxIdleMs / 4)));
    this.idleTimer = setInterval(() => this.recycleIdle(), every);
    this.idleTimer.unref();
    this.refill();
  }

  /** A ready agent for a run (the pool refills in the background), or null: the run uses `opencode run`. */
  take(): WarmAgent | null {
    if (!this.started) return null;
    let agent: WarmAgent | undefined;
    while ((agent = this.ready.shift())) {
      if (agent.alive) break;
      void agent.destroy();
    }
    if (agent) this.stats.servedWarm++;
    else this.stats.servedCold++;
    this.refill();
    return agent ?? null;
  }

  status(): WarmStats {
    return { ready: this.ready.filter((a) => a.alive).length, target: this.opts.target, ...this.stats };
  }

  /** Kills every warm agent and removes its workspace; no boot starts afterwards. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.retryTimer);
    clearInterval(this.idleTimer);
    await this.filling;
    await Promise.all(this.ready.splice(0).map((a) => a.destroy()));
  }

  private refill(): void {
    if (this.filling || this.stopping.signal.aborted || this.retryTimer) return;
    this.filling = this.fill().finally(() => {
      this.filling = null;
    });
  }

  /** Boots one agent after another until the pool is full; a failure waits out a growing backoff. */
  private async fill(): Promise<void> {
    while (!this.stopping.signal.aborted && this.ready.length < this.opts.target) {
      const startedAt = performance.now();
      try {
        const agent = await this.opts.boot(this.stopping.signal);
        if (this.stopping.signal.aborted) {
          await agent.destroy();
          return;
        }
        this.failuresInRow = 0;
        this.ready.push(agent);
        void agent.exited.then(() => this.lost(agent));
        this.opts.logger.debug("warm agent ready", { boot_ms: Math.round(performance.now() - startedAt), ready: this.ready.length, target: this.opts.target });
      } catch (err) {
        if (this.stopping.signal.aborted) return;
        this.stats.bootFailures++;
        this.failuresInRow++;
        const wait = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.failuresInRow - 1));
        this.opts.logger.error("a warm agent failed to boot: runs use `opencode run` until one boots", {
          error: err instanceof Error ? err.message : String(err),
          failures_in_a_row: this.failuresInRow,
          retry_in_ms: wait,
        });
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.refill();
        }, wait);
        this.retryTimer.unref();
        return;
      }
    }
  }

  /** A ready agent whose server process ended by itself: dropped and replaced. */
  private lost(agent: WarmAgent): void {
    const at = this.ready.indexOf(agent);
    if (at === -1 || this.stopping.signal.aborted) return;
    this.ready.splice(at, 1);
    this.opts.logger.warn("a warm agent's server process ended while it waited for a run: replacing it", { ready: this.ready.length, target: this.opts.target });
    void agent.destroy();
    this.refill();
  }

  private recycleIdle(): void {
    const now = Date.now();
    const old = this.ready.filter((a) => now - a.bornAt >= this.opts.maxIdleMs);
    if (old.length === 0) return;
    for (const a of old) this.ready.splice(this.ready.indexOf(a), 1);
    this.opts.logger.debug("recycling idle warm agents", { agents: old.length });
    void Promise.all(old.map((a) => a.destroy())).then(() => this.refill());
  }
}

// Repository workspaces checked out ahead: after a run used a mirror, the next run on it takes a ready clone (one rename) instead of checking one out.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { gitIn, type GitClientOptions } from "../git/git-client.ts";
import type { MirrorCache, MirrorLease } from "../git/mirror-cache.ts";
import * as repo from "../git/repository.ts";
import type { Logger } from "../lib/logger.ts";
import { killProcessTree, RUN_COOKIE_VAR } from "../proc/process-tree.ts";
import { deleteLater, deleteLeftovers } from "./workspace.ts";

/** A repository spare's directory in WORK_DIR (hidden from agents like the rest of it); never a run's until taken. */
export const REPO_SPARE_PREFIX = "opencode-repospare-";

export interface RepoSpareOptions {
  workDir: string;
  /** REPO_SPARES: at most one spare per mirror, for this many most recently used mirrors; 0 = none. */
  size: number;
  cache: MirrorCache | null;
  /** git for the spares' clones: no credentials (they read a local mirror), their own cookie and HOME. */
  git: Pick<GitClientOptions, "binary" | "baseEnv" | "inactivityTimeoutMs"> | null;
  logger: Logger;
}

/** A ready spare, once taken: the checkout to move into the run's workspace, then `done()`. */
export interface RepoSpare {
  readonly mirror: string;
  /** The checkout (a `clone --shared --single-branch --branch <branch>` of the mirror, origin set to the URL). */
  readonly dir: string;
  readonly branch: string;
  /** The checkout moved (or failed): the spare's lease ends and what is left of it is deleted. */
  done(): void;
}

interface Ready {
  root: string;
  dir: string;
  branch: string;
  lease: MirrorLease;
}

interface Build {
  mirror: string;
  lease: MirrorLease;
  controller: AbortController;
  done: Promise<void>;
}

export class RepoSpares {
  /** Mirror → its spare, least recently used first. */
  private readonly ready = new Map<string, Ready>();
  /** Mirror → what to build for it, least recently asked first. */
  private readonly wanted = new Map<string, { url: string; branch: string }>();
  private building: Build | null = null;
  private stopped = false;
  private unregister: (() => void) | null = null;

  constructor(private readonly opts: RepoSpareOptions) {}

  get logger(): Logger {
    return this.opts.logger;
  }

  get enabled(): boolean {
    return this.opts.size > 0 && this.opts.cache !== null && this.opts.git !== null;
  }

  /** Deletes the spares a stopped process left (half made, or of mirrors since changed); spares are made from now on. */
  start(): void {
    const left = deleteLeftovers(this.opts.workDir, REPO_SPARE_PREFIX);
    if (left > 0) this.opts.logger.info("deleted the repository spares a previous process left", { spares: left });
    this.unregister = this.opts.cache?.addReclaimer((mirror) => this.reclaim(mirror)) ?? null;
  }

  /** The mirror's spare, now the caller's (nobody else gets it); null when none is ready. */
  take(mirror: string): RepoSpare | null {
    const spare = this.ready.get(mirror);
    if (!spare) return null;
    this.ready.delete(mirror);
    return {
      mirror,
      dir: spare.dir,
      branch: spare.branch,
      done: () => {
        spare.lease.release();
        deleteLater(spare.root);
      },
    };
  }

  /**
   * A run has its workspace from the mirror of `url` (fetched just before): make the next run's spare,
   * at `branch` (the default), in the background — one build at a time, the most recently asked first.
   */
  offer(url: string, branch: string): void {
    const cache = this.opts.cache;
    if (!this.enabled || this.stopped || !cache) return;
    const mirror = cache.pathFor(url);
    const spare = this.ready.get(mirror);
    if (spare) {
      // Ready already (the run cloned beside it): now the most recently used.
      this.ready.delete(mirror);
      this.ready.set(mirror, spare);
      return;
    }
    if (this.building?.mirror === mirror) return;
    this.wanted.delete(mirror);
    this.wanted.set(mirror, { url, branch });
    for (const old of this.wanted.keys()) if (this.wanted.size > this.opts.size) this.wanted.delete(old);
    this.pump();
  }

  /** Spares ready now, by mirror (tests look). */
  readyMirrors(): string[] {
    return [...this.ready.keys()];
  }

  /** Resolves once no build runs and none is waiting (tests). */
  async idle(): Promise<void> {
    while (this.building) await this.building.done;
  }

  /** No more spares: a build under way is aborted (its git killed), every spare deleted (shutdown waits through removalsSettled). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wanted.clear();
    this.unregister?.();
    this.building?.controller.abort(new Error("the server is stopping"));
    await this.idle();
    for (const mirror of [...this.ready.keys()]) this.drop(mirror);
  }

  /** The cache wants `mirror` gone or rebuilt: its spare (ready or being made) lets go of it now. */
  private reclaim(mirror: string): void {
    this.wanted.delete(mirror);
    if (this.drop(mirror)) this.opts.logger.info("deleted a repository spare: its mirror is evicted or rebuilt", { mirror: path.basename(mirror) });
    if (this.building?.mirror === mirror) {
      this.building.controller.abort(new Error("the mirror is evicted or rebuilt"));
      this.building.lease.release();
    }
  }

  private drop(mirror: string): boolean {
    const spare = this.ready.get(mirror);
    if (!spare) return false;
    this.ready.delete(mirror);
    spare.lease.release();
    deleteLater(spare.root);
    return true;
  }

  private pump(): void {
    if (this.building || this.stopped) return;
    const next = [...this.wanted].at(-1);
    if (!next) return;
    const [mirror, { url, branch }] = next;
    this.wanted.delete(mirror);
    const cache = this.opts.cache as MirrorCache;
    const lease = cache.acquire(url, { spare: true });
    // Borrowed from the start: a spare lease is always a borrowing one, which keeps the cache's count of them exact.
    lease.borrow();
    const controller = new AbortController();
    const build: Build = { mirror, lease, controller, done: Promise.resolve() };
    this.building = build;
    build.done = this.build(build, url, branch).finally(() => {
      this.building = null;
      this.pump();
    });
  }

  private async build(b: Build, url: string, branch: string): Promise<void> {
    const tag = randomBytes(6).toString("hex");
    const root = path.join(this.opts.workDir, `${REPO_SPARE_PREFIX}${tag}`);
    const dir = path.join(root, "work");
    const cookie = `repospare-${tag}`;
    const git = this.opts.git as NonNullable<RepoSpareOptions["git"]>;
    const opts: GitClientOptions = { ...git, home: path.join(root, "git-home"), extraEnv: { [RUN_COOKIE_VAR]: cookie }, auth: null, allowHttp: false, signal: b.controller.signal };
    try {
      await mkdir(opts.home, { recursive: true, mode: 0o700 });
      if (!existsSync(path.join(b.mirror, "HEAD"))) throw new Error("the mirror is gone");
      await repo.cloneSharedFromMirror(gitIn(root, opts), b.mirror, dir, branch);
      await repo.setOrigin(gitIn(dir, opts), url);
      b.controller.signal.throwIfAborted();
    } catch (err) {
      // Its git gone before its directory goes: nothing writes into a tree being deleted.
      await killProcessTree({ cookie: `${RUN_COOKIE_VAR}=${cookie}` });
      b.lease.release();
      deleteLater(root);
      if (b.controller.signal.aborted) this.opts.logger.debug("a repository spare's build was stopped", { mirror: path.basename(b.mirror), reason: b.controller.signal.reason });
      else this.opts.logger.warn("could not make a repository spare: the next run on it clones", { mirror: path.basename(b.mirror), error: err });
      return;
    }
    this.ready.set(b.mirror, { root, dir, branch, lease: b.lease });
    this.opts.logger.debug("a repository spare is ready", { mirror: path.basename(b.mirror), branch });
    for (const old of [...this.ready.keys()]) if (this.ready.size > this.opts.size) this.drop(old);
  }
}

// Workspaces made ahead, off any run's path: a run starting takes one with a single rename instead of a dozen mkdirs.
import { randomBytes } from "node:crypto";
import { renameSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { FurnishedHome } from "../opencode/types.ts";
import { createWorkspace, deleteLater, deleteLeftovers, openWorkspace, workspaceLayout, workspaceRoot, type Workspace } from "./workspace.ts";

/** A spare's directory in WORK_DIR (hidden from agents like the rest of WORK_DIR); never a run's until renamed. */
export const SPARE_PREFIX = "opencode-spare-";

/** Spares kept ready: one per slot, at most 4 (runs that start together beyond that make their own; more would only hold inodes). */
export function spareCount(maxConcurrent: number): number {
  return Math.min(maxConcurrent, 4);
}

export interface SpareOptions {
  workDir: string;
  /** How many to keep ready (runs that start at the same moment beyond it make their own). */
  size: number;
  /** What a run's home holds before its run: the agent adapter's part (and what it wrote for that run, if anything). */
  furnish(home: string): Promise<FurnishedHome | null>;
  /** A spare could not be made (a full disk…): runs make their own workspaces meanwhile. */
  onError(err: unknown): void;
}

/** A spare's tree, and what its home was furnished with. */
interface Spare {
  root: string;
  furnished: FurnishedHome | null;
}

export class WorkspaceSpares {
  private readonly ready: Spare[] = [];
  private filling: Promise<void> | null = null;
  private stopped = false;
  /** Told once per spell of failures, not once per run. */
  private failing = false;

  constructor(private readonly opts: SpareOptions) {}

  /** Whether spares are being made now (none while a run that took one still has it). */
  get refilling(): boolean {
    return this.filling !== null;
  }

  /** Removes spares a stopped process left (they may be half made) and makes new ones. */
  start(): void {
    deleteLeftovers(this.opts.workDir, SPARE_PREFIX);
    this.refill();
  }

  /**
   * The thread's workspace: a spare moved into place, or — when none is ready — one made now the way spares
   * are, through the thread pool: on a slow disk the synchronous mkdirs and file writes of a fresh workspace
   * and home held the event loop (and every other request) for ~10 ms (bench 1, 2026-12-04). The spare is
   * replaced when the run is done with it (its workspace disposed, just before its answer): making one
   * costs ~1 ms of CPU, which at the run's start competed with its own spawn (bench 1).
   */
  async take(threadId: string, opts: { git: boolean }): Promise<Workspace> {
    const workspace = this.takeNow(threadId, opts, this.ready.pop() ?? (await this.makeOne().catch(() => undefined)));
    return {
      ...workspace,
      [Symbol.asyncDispose]: async () => {
        try {
          await workspace[Symbol.asyncDispose]();
        } finally {
          // On the next turn of the event loop: starting the first mkdir costs the thread ~0.1 ms, and the run's answer comes first.
          setImmediate(() => this.refill());
        }
      },
    };
  }

  /** `spare` renamed into the thread's path; without one (it could not be made), a workspace made here, whose error is the run's. */
  private takeNow(threadId: string, opts: { git: boolean }, spare: Spare | undefined): Workspace {
    if (spare === undefined) return createWorkspace(this.opts.workDir, threadId, opts);
    try {
      renameSync(spare.root, workspaceRoot(this.opts.workDir, threadId));
    } catch {
      // The path is taken (an earlier run of the thread died there): createWorkspace clears it; the spare stays one.
      this.keep(spare);
      return createWorkspace(this.opts.workDir, threadId, opts);
    }
    return { ...openWorkspace(workspaceRoot(this.opts.workDir, threadId)), furnished: spare.furnished };
  }

  /** One spare, made through the thread pool; a half-made one is deleted and its error thrown. */
  private async makeOne(): Promise<Spare> {
    const root = path.join(this.opts.workDir, `${SPARE_PREFIX}${randomBytes(6).toString("hex")}`);
    try {
      await mkdir(root, { mode: 0o700 });
      const { agentRoot, dir, home, gitHome } = workspaceLayout(root);
      for (const d of [agentRoot, dir, home, gitHome]) await mkdir(d, { mode: 0o700 });
      return { root, furnished: await this.opts.furnish(home) };
    } catch (err) {
      deleteLater(root);
      throw err;
    }
  }

  /** Into the pool, unless it is full (a run made one of its own meanwhile) or stopped. */
  private keep(spare: Spare): void {
    if (this.stopped || this.ready.length >= this.opts.size) deleteLater(spare.root);
    else this.ready.push(spare);
  }

  /** Made with the thread pool's fs calls, so the event loop (and the runs it serves) never waits on them. */
  private refill(): void {
    if (this.filling || this.stopped || this.ready.length >= this.opts.size) return;
    this.filling = (async () => {
      while (!this.stopped && this.ready.length < this.opts.size) {
        let spare: Spare;
        try {
          spare = await this.makeOne();
        } catch (err) {
          if (!this.failing) this.opts.onError(err);
          this.failing = true;
          return;
        }
        this.failing = false;
        this.keep(spare);
      }
    })().finally(() => (this.filling = null));
  }

  /** No more spares: the ready ones are deleted (shutdown waits for that through removalsSettled). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.filling;
    for (const { root } of this.ready.splice(0)) deleteLater(root);
  }
}

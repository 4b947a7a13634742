// Bare mirrors of repositories, one per URL: runs share one fetch of what changed and make their workspaces locally.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync } from "node:fs";
import path from "node:path";

export interface MirrorEviction {
  evicted: string[];
  bytes: number;
}

/** What one fetch into a mirror learnt about the remote: every branch, and which one HEAD names. */
export interface MirrorSnapshot {
  /** The remote's default branch; null when the remote has no commits (or a HEAD naming no branch). */
  defaultBranch: string | null;
  /** Every branch of the remote → its commit. */
  heads: Map<string, string>;
}

/**
 * A run's hold on one mirror, from before its fetch until the run is over: while any lease exists
 * the mirror is neither evicted, and while one has borrowed (a workspace reads the mirror's objects
 * through alternates) it is not discarded either. release() is idempotent.
 */
export interface MirrorLease {
  readonly mirror: string;
  /** The workspace is about to read the mirror's objects (a clone, or alternates for the rest of the run). */
  borrow(): void;
  /** The clone failed: the workspace borrows nothing after all. */
  unborrow(): void;
  release(): void;
}

function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    try {
      total += statSync(path.join(entry.parentPath, entry.name)).size;
    } catch {
      // Removed meanwhile (a finished fetch swaps temporary packs).
    }
  }
  return total;
}

interface Flight {
  done: Promise<MirrorSnapshot>;
  /** Aborts the fetch once every run waiting for it has stopped waiting. */
  controller: AbortController;
  waiting: number;
}

interface Slot {
  running: Flight | null;
  /** The fetch that starts when `running` ends: every run arriving meanwhile joins it. */
  next: Flight | null;
}

interface Holds {
  leases: number;
  borrowers: number;
  /** Of those leases, the ones repository spares hold (see reclaim): they never keep a mirror from eviction or repair. */
  spares: number;
}

/** Resolves with `p`, or rejects when `signal` aborts first (calling `leave`). */
function until<T>(p: Promise<T>, signal: AbortSignal, leave: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      leave();
      reject(signal.reason);
    };
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    p.then(
      (v) => (signal.removeEventListener("abort", abort), resolve(v)),
      (e: unknown) => (signal.removeEventListener("abort", abort), reject(e)),
    );
  });
}

/**
 * The cache directory holds `<sha256(url)>.git` bare repositories. Only fetches into one mirror are
 * serialised; workspaces are made from it concurrently (a fetch only adds objects and moves refs, and
 * nothing ever prunes a mirror's objects). One fetch serves every run waiting for it — the rule:
 * a run joins the next fetch that has NOT started yet (it starts on the next turn of the event loop, or
 * when the fetch in progress ends), never one already in progress, whose ref advertisement may predate
 * the run. So each run sees the remote's refs as of its arrival or newer, and runs arriving while a fetch
 * is under way share the one after it. Eviction — least recently used first, down to `maxBytes` — never
 * touches a leased mirror. Mirrors have no remote configured: they are fetched by URL, so no credential
 * is ever stored.
 */
export class MirrorCache {
  private readonly slots = new Map<string, Slot>();
  private readonly holds = new Map<string, Holds>();
  /** Repository spares' owners: asked to give up a mirror's spares (synchronously) before it is evicted or rebuilt. */
  private readonly reclaimers = new Set<(mirror: string) => void>();
  /** A release inside evict (a spare given up) must not start a second walk. */
  private evicting = false;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  pathFor(url: string): string {
    return path.join(this.dir, `${createHash("sha256").update(url).digest("hex").slice(0, 32)}.git`);
  }

  /**
   * Leases the mirror of `url` (made by the first fetch); release it when the run is over. A spare's
   * lease (`spare`) is one its reclaimer gives up when the cache needs the mirror gone or rebuilt.
   */
  acquire(url: string, opts: { spare?: boolean } = {}): MirrorLease {
    const mirror = this.pathFor(url);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const holds = this.holds.get(mirror) ?? { leases: 0, borrowers: 0, spares: 0 };
    this.holds.set(mirror, holds);
    holds.leases++;
    if (opts.spare) holds.spares++;
    // A spare's lease is no use of the mirror: it leaves the least-recently-used order alone.
    if (!opts.spare && existsSync(path.join(mirror, "HEAD"))) utimesSync(mirror, new Date(), new Date());
    let borrowed = false;
    let released = false;
    return {
      mirror,
      borrow: () => {
        if (!borrowed && !released) (borrowed = true), holds.borrowers++;
      },
      unborrow: () => {
        if (borrowed && !released) (borrowed = false), holds.borrowers--;
      },
      release: () => {
        if (released) return;
        released = true;
        if (borrowed) holds.borrowers--;
        if (opts.spare) holds.spares--;
        if (--holds.leases === 0 && this.holds.get(mirror) === holds) this.holds.delete(mirror);
        try {
          this.evict();
        } catch {
          // A mirror changing under the size walk: the next release evicts.
        }
      },
    };
  }

  /** Registers the owner of repository spares (see acquire's `spare`); returns its unregistration. */
  addReclaimer(reclaim: (mirror: string) => void): () => void {
    this.reclaimers.add(reclaim);
    return () => this.reclaimers.delete(reclaim);
  }

  /** Has every spare of `mirror` given up when only spares hold it (`what`: its leases, or its borrowers); true when nothing holds it now. */
  private reclaim(mirror: string, what: "leases" | "borrowers"): boolean {
    const holds = this.holds.get(mirror);
    if (!holds) return true;
    if (holds[what] > holds.spares) return false;
    for (const reclaim of this.reclaimers) reclaim(mirror);
    return (this.holds.get(mirror)?.[what] ?? 0) === 0;
  }

  /** Runs that hold a lease on `mirror` (tests and the bench look). */
  leases(mirror: string): number {
    return this.holds.get(mirror)?.leases ?? 0;
  }

  /**
   * The snapshot of a fetch into `mirror` that starts after this call (see the class comment); `fetch`
   * does the work under the mirror's lock, with a signal that aborts only when no run waits any more.
   */
  refresh(mirror: string, signal: AbortSignal, fetch: (signal: AbortSignal) => Promise<MirrorSnapshot>): Promise<MirrorSnapshot> {
    const slot = this.slots.get(mirror) ?? { running: null, next: null };
    this.slots.set(mirror, slot);
    let flight = slot.next;
    if (!flight) {
      const controller = new AbortController();
      const previous = slot.running?.done.catch(() => undefined) ?? Promise.resolve(undefined);
      const started = previous.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
      const mine: Flight = {
        controller,
        waiting: 0,
        done: started.then(async () => {
          if (slot.next === mine) slot.next = null;
          slot.running = mine;
          try {
            controller.signal.throwIfAborted();
            return await fetch(controller.signal);
          } finally {
            if (slot.running === mine) slot.running = null;
            if (slot.next === null && this.slots.get(mirror) === slot) this.slots.delete(mirror);
          }
        }),
      };
      // Rejections reach every waiting run; nobody waiting is no reason for an unhandled one.
      mine.done.catch(() => undefined);
      slot.next = mine;
      flight = mine;
    }
    const joined = flight;
    joined.waiting++;
    const leave = () => {
      if (--joined.waiting > 0) return;
      // Nobody wants it any more: later runs get a fetch of their own, not this aborted one.
      if (slot.next === joined) slot.next = null;
      joined.controller.abort(signal.reason);
    };
    return until(joined.done, signal, leave);
  }

  /**
   * Deletes a mirror that turned out broken (the next fetch rebuilds it) — unless a workspace borrows its
   * objects: then it stays, and false says so. Call it only from inside a fetch (under the mirror's lock).
   */
  discard(mirror: string): boolean {
    if ((this.holds.get(mirror)?.borrowers ?? 0) > 0 && !this.reclaim(mirror, "borrowers")) return false;
    rmSync(mirror, { recursive: true, force: true });
    return true;
  }

  /** Removes least recently used mirrors (not leased) until the cache fits in maxBytes. */
  evict(): MirrorEviction {
    if (this.evicting || !existsSync(this.dir)) return { evicted: [], bytes: 0 };
    this.evicting = true;
    try {
      return this.evictNow();
    } finally {
      this.evicting = false;
    }
  }

  private evictNow(): MirrorEviction {
    const mirrors = readdirSync(this.dir)
      .filter((name) => name.endsWith(".git"))
      .map((name) => {
        const full = path.join(this.dir, name);
        return { full, size: sizeOf(full), used: statSync(full).mtimeMs };
      })
      .sort((a, b) => a.used - b.used);
    let total = mirrors.reduce((sum, m) => sum + m.size, 0);
    const evicted: string[] = [];
    for (const m of mirrors) {
      if (total <= this.maxBytes) break;
      // A mirror only repository spares hold is evicted: its spares are given up first.
      if (this.slots.has(m.full) || (this.holds.has(m.full) && !this.reclaim(m.full, "leases"))) continue;
      rmSync(m.full, { recursive: true, force: true });
      total -= m.size;
      evicted.push(m.full);
    }
    return { evicted, bytes: total };
  }
}

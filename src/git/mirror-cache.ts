// Bare mirrors of repositories, one per URL: a run fetches only what changed and clones locally.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync } from "node:fs";
import path from "node:path";

export interface MirrorEviction {
  evicted: string[];
  bytes: number;
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

/**
 * The cache directory holds `<sha256(url)>.git` bare repositories. Use of one mirror is
 * serialised (fetch and local clone under one lock), different mirrors are independent, and
 * eviction — least recently used first, down to `maxBytes` — never touches a mirror in use.
 * Mirrors have no remote configured: they are fetched by URL, so no credential is ever stored.
 */
export class MirrorCache {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly inUse = new Map<string, number>();

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  pathFor(url: string): string {
    return path.join(this.dir, `${createHash("sha256").update(url).digest("hex").slice(0, 32)}.git`);
  }

  /** Runs `fn` with the mirror of `url` to itself; `exists` tells whether the mirror was there already. */
  async use<T>(url: string, fn: (mirror: string, exists: boolean) => Promise<T>): Promise<T> {
    const mirror = this.pathFor(url);
    const previous = this.tails.get(mirror) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(mirror, tail);
    this.inUse.set(mirror, (this.inUse.get(mirror) ?? 0) + 1);
    try {
      await previous;
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const exists = existsSync(path.join(mirror, "HEAD"));
      if (exists) utimesSync(mirror, new Date(), new Date());
      return await fn(mirror, exists);
    } finally {
      const left = (this.inUse.get(mirror) ?? 1) - 1;
      if (left === 0) this.inUse.delete(mirror);
      else this.inUse.set(mirror, left);
      release();
      if (this.tails.get(mirror) === tail) this.tails.delete(mirror);
      try {
        this.evict();
      } catch {
        // A mirror changing under the size walk: the next use evicts.
      }
    }
  }

  /** Deletes a mirror that turned out broken (it is rebuilt on next use). Only call it from inside use(). */
  discard(mirror: string): void {
    rmSync(mirror, { recursive: true, force: true });
  }

  /** Removes least recently used mirrors (not in use) until the cache fits in maxBytes. */
  evict(): MirrorEviction {
    if (!existsSync(this.dir)) return { evicted: [], bytes: 0 };
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
      if (this.inUse.has(m.full)) continue;
      rmSync(m.full, { recursive: true, force: true });
      total -= m.size;
      evicted.push(m.full);
    }
    return { evicted, bytes: total };
  }
}

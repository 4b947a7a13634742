// The configured keys — API_KEY's (full access) and API_KEYS_FILE's (named, scoped) — and the constant-time match of a presented key.
import { createHash, timingSafeEqual } from "node:crypto";
import type { Logger } from "../lib/logger.ts";
import { NO_LIMITS } from "../runs/model.ts";
import { scopeSet, type Caller } from "./caller.ts";
import { readKeysFile, type KeyEntry } from "./keys-file.ts";

export type KeyMatch = { kind: "ok"; caller: Caller } | { kind: "expired"; name: string } | { kind: "none" };

export function sha256(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** API_KEY's keys: every scope, named api-key-1, api-key-2, … by position. */
export function apiKeyEntries(apiKeys: readonly string[]): KeyEntry[] {
  return apiKeys.map((key, i) => ({ name: `api-key-${i + 1}`, digest: sha256(key), scopes: scopeSet(["admin"]), expiresAt: null, ceilings: NO_LIMITS }));
}

export class KeyRegistry {
  private entries: readonly KeyEntry[];
  private readonly fixed: readonly KeyEntry[];

  /**
   * `file`: API_KEYS_FILE, read again by reload(). Authentication is on when any source is configured — a
   * keys file emptied later locks everyone out rather than opening the server.
   */
  constructor(
    apiKeys: readonly string[],
    fileEntries: readonly KeyEntry[],
    readonly file: string | null,
  ) {
    this.fixed = apiKeyEntries(apiKeys);
    this.entries = [...this.fixed, ...fileEntries];
  }

  get enabled(): boolean {
    return this.fixed.length > 0 || this.file !== null;
  }

  get size(): number {
    return this.entries.length;
  }

  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /**
   * Reads the keys file again and swaps the keys in one assignment (requests in flight keep what they
   * matched). Throws KeysFileError — and keeps the previous keys — when the file cannot be used.
   */
  reload(): { added: string[]; removed: string[] } {
    if (this.file === null) return { added: [], removed: [] };
    const next = [...this.fixed, ...readKeysFile(this.file)];
    const before = new Set(this.names());
    const after = new Set(next.map((e) => e.name));
    this.entries = next;
    return { added: [...after].filter((n) => !before.has(n)), removed: [...before].filter((n) => !after.has(n)) };
  }

  /**
   * Each presented key is digested once and compared with every configured digest — all of them, with no
   * early exit, so timing tells nothing of which key (or how much of one) matched.
   */
  match(presented: readonly string[], now = Date.now()): KeyMatch {
    const entries = this.entries;
    let found = -1;
    for (const p of presented) {
      const d = sha256(p);
      for (let i = 0; i < entries.length; i++) {
        const same = timingSafeEqual(d, (entries[i] as KeyEntry).digest);
        found = same && found === -1 ? i : found;
      }
    }
    const entry = found === -1 ? undefined : entries[found];
    if (!entry) return { kind: "none" };
    if (entry.expiresAt !== null && entry.expiresAt <= now) return { kind: "expired", name: entry.name };
    return { kind: "ok", caller: { name: entry.name, scopes: entry.scopes, ceilings: entry.ceilings } };
  }
}

/** SIGHUP: the file read again, and the log says what changed — or, loudly, why nothing did. True when the keys were replaced. */
export function reloadKeys(keys: KeyRegistry, logger: Logger): boolean {
  if (keys.file === null) {
    logger.info("keys not reloaded: API_KEYS_FILE is not set");
    return false;
  }
  try {
    const { added, removed } = keys.reload();
    logger.info("keys reloaded", { file: keys.file, keys: keys.size, added, removed });
    return true;
  } catch (err) {
    // Nothing changes: a typo in the file must neither lock everyone out nor let anyone in.
    logger.error("keys file not reloaded: the keys in use stay", { file: keys.file, error: err instanceof Error ? err.message : String(err) });
    return false;
  }
}

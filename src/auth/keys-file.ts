// API_KEYS_FILE: named keys (a SHA-256 digest each, never the key), their scopes, expiry and budget ceilings — JSON or TOML, checked whole.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { NO_LIMITS, type Limits } from "../runs/model.ts";
import { isScope, scopeSet, type Scope } from "./caller.ts";

export const KEY_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** The names API_KEY's keys get, by position: a file entry may not take one. */
export const API_KEY_NAME = /^api-key-\d+$/;
const HEX_DIGEST = /^[0-9a-f]{64}$/i;

export interface KeyEntry {
  name: string;
  /** The key's SHA-256 digest (32 bytes). */
  digest: Buffer;
  scopes: ReadonlySet<Scope>;
  /** Milliseconds since the epoch; null: never. */
  expiresAt: number | null;
  ceilings: Limits;
}

/** A keys file that cannot be used; the message names the entry, never a value that could be a key. */
export class KeysFileError extends Error {
  override readonly name = "KeysFileError";
}

const positive = z.number().positive();
const whole = z.number().int().min(1);
const Entry = z
  .object({
    name: z.string(),
    sha256: z.string(),
    scopes: z.array(z.string()).min(1, "must list at least one scope"),
    expires: z.string().optional(),
    max_run_cost_usd: positive.optional(),
    max_run_tokens: whole.optional(),
    max_run_steps: whole.optional(),
  })
  .strict();
const File = z.object({ keys: z.array(z.unknown()) }).strict();

/** JSON when the file is named .json or parses as JSON; TOML otherwise (Bun.TOML). */
function parseText(text: string, file: string): unknown {
  if (file.endsWith(".json")) return JSON.parse(text) as unknown;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return Bun.TOML.parse(text);
  }
}

/** Where an entry is, for people: its position (from 1) and its name when it has a usable one. */
function where(index: number, raw: unknown): string {
  const name = (raw as { name?: unknown } | null)?.name;
  return typeof name === "string" && KEY_NAME.test(name) ? `entry ${index + 1} ("${name}")` : `entry ${index + 1}`;
}

function entryOf(raw: unknown, index: number, seen: Set<string>): KeyEntry {
  const at = where(index, raw);
  const parsed = Entry.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // The path names a field; zod's message never quotes the value (a key pasted in the wrong place stays unseen).
    const field = issue?.path.length ? `"${issue.path.map(String).join(".")}"` : issue?.code === "unrecognized_keys" ? `"${issue.keys[0]}"` : "the entry";
    const message = issue?.code === "unrecognized_keys" ? "is not a known field (name, sha256, scopes, expires, max_run_cost_usd, max_run_tokens, max_run_steps)" : (issue?.message ?? "is invalid");
    throw new KeysFileError(`${at}: ${field} ${message}`);
  }
  const e = parsed.data;
  if (!KEY_NAME.test(e.name)) throw new KeysFileError(`${at}: "name" must be 1 to 64 of A-Z a-z 0-9 . _ -`);
  if (API_KEY_NAME.test(e.name)) throw new KeysFileError(`${at}: "name" ${e.name} is reserved for API_KEY's keys (api-key-1, api-key-2, …)`);
  if (seen.has(e.name)) throw new KeysFileError(`${at}: "name" ${e.name} is used by an earlier entry`);
  seen.add(e.name);
  if (!HEX_DIGEST.test(e.sha256)) {
    throw new KeysFileError(`${at}: "sha256" must be the key's SHA-256 digest as 64 hex digits (never the key itself; opencode-server keys new prints one)`);
  }
  const unknown = e.scopes.find((s) => !isScope(s));
  if (unknown !== undefined) throw new KeysFileError(`${at}: unknown scope ${JSON.stringify(unknown.slice(0, 40))} (scopes: runs:create, runs:read, runs:read-all, runs:cancel, runs:cancel-all, metrics, admin)`);
  let expiresAt: number | null = null;
  if (e.expires !== undefined) {
    expiresAt = /^\d{4}-\d{2}-\d{2}T/.test(e.expires) ? Date.parse(e.expires) : Number.NaN;
    if (Number.isNaN(expiresAt)) throw new KeysFileError(`${at}: "expires" must be an ISO 8601 time, e.g. 2027-01-01T00:00:00Z`);
  }
  return {
    name: e.name,
    digest: Buffer.from(e.sha256, "hex"),
    scopes: scopeSet(e.scopes.filter(isScope)),
    expiresAt,
    ceilings: { ...NO_LIMITS, max_cost_usd: e.max_run_cost_usd ?? null, max_tokens: e.max_run_tokens ?? null, max_steps: e.max_run_steps ?? null },
  };
}

/** The entries of a keys file's text; throws KeysFileError naming the first bad entry. */
export function parseKeysFile(text: string, file = ""): KeyEntry[] {
  let doc: unknown;
  try {
    doc = parseText(text, file);
  } catch (err) {
    // The parser's message can quote the line it choked on: only where it is is kept.
    const line = /line (\d+)/i.exec(err instanceof Error ? err.message : "")?.[1];
    throw new KeysFileError(`not valid ${file.endsWith(".json") ? "JSON" : "JSON or TOML"}${line ? ` (line ${line})` : ""}`);
  }
  const top = File.safeParse(doc);
  if (!top.success) throw new KeysFileError('must hold a "keys" list of entries (TOML: [[keys]] tables; JSON: {"keys": [...]})');
  const seen = new Set<string>();
  return top.data.keys.map((raw, i) => entryOf(raw, i, seen));
}

export function readKeysFile(file: string): KeyEntry[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new KeysFileError(`cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseKeysFile(text, file);
}

// `opencode-server keys new`: a random key, printed once, and the keys-file entry (its digest, never the key) to paste.
import { randomBytes } from "node:crypto";
import { isScope, SCOPES } from "./caller.ts";
import { API_KEY_NAME, KEY_NAME } from "./keys-file.ts";
import { sha256 } from "./keys.ts";

export const KEY_PREFIX = "ocs_";
const DEFAULT_SCOPES = ["runs:create", "runs:read", "runs:cancel"];

export interface NewKey {
  key: string;
  toml: string;
  json: string;
}

/** Parses `--name ci [--scopes a,b] [--expires ISO]` (also `--name=ci`); a string is what is wrong with them. */
export function newKeyOptions(args: readonly string[]): { name: string; scopes: string[]; expires: string | null } | string {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const m = /^--(name|scopes|expires)(?:=(.*))?$/.exec(arg);
    if (!m) return `unknown argument: ${arg}`;
    const value = m[2] ?? args[++i];
    if (value === undefined) return `--${m[1]} needs a value`;
    values.set(m[1] as string, value);
  }
  const name = values.get("name");
  if (name === undefined) return "--name is required";
  if (!KEY_NAME.test(name)) return "--name must be 1 to 64 of A-Z a-z 0-9 . _ -";
  if (API_KEY_NAME.test(name)) return `--name ${name} is reserved for API_KEY's keys`;
  const scopes = values.has("scopes") ? (values.get("scopes") as string).split(",").map((s) => s.trim()).filter(Boolean) : DEFAULT_SCOPES;
  const unknown = scopes.find((s) => !isScope(s));
  if (unknown !== undefined) return `unknown scope: ${unknown} (scopes: ${SCOPES.join(", ")})`;
  if (scopes.length === 0) return "--scopes must name at least one scope";
  const expires = values.get("expires") ?? null;
  if (expires !== null && (!/^\d{4}-\d{2}-\d{2}T/.test(expires) || Number.isNaN(Date.parse(expires)))) return "--expires must be an ISO 8601 time, e.g. 2027-01-01T00:00:00Z";
  return { name, scopes, expires };
}

export function newKey(opts: { name: string; scopes: string[]; expires: string | null }): NewKey {
  const key = KEY_PREFIX + randomBytes(32).toString("base64url");
  const digest = sha256(key).toString("hex");
  const lines = [`[[keys]]`, `name = ${JSON.stringify(opts.name)}`, `sha256 = "${digest}"`, `scopes = [${opts.scopes.map((s) => JSON.stringify(s)).join(", ")}]`];
  if (opts.expires !== null) lines.push(`expires = ${JSON.stringify(opts.expires)}`);
  const toml = lines.join("\n");
  const json = JSON.stringify({ name: opts.name, sha256: digest, scopes: opts.scopes, ...(opts.expires === null ? {} : { expires: opts.expires }) });
  return { key, toml, json };
}

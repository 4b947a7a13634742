// Keys files for tests: entries built from plaintext keys (the file holds only their digests).
import { createHash } from "node:crypto";

export interface TestKey {
  name: string;
  key: string;
  scopes: string[];
  expires?: string;
  max_run_cost_usd?: number;
  max_run_tokens?: number;
  max_run_steps?: number;
}

export const digestOf = (key: string) => createHash("sha256").update(key).digest("hex");

/** A TOML keys file holding `keys` (by digest). */
export function keysToml(keys: readonly TestKey[]): string {
  return keys
    .map(({ key, name, scopes, ...rest }) => {
      const lines = ["[[keys]]", `name = ${JSON.stringify(name)}`, `sha256 = "${digestOf(key)}"`, `scopes = ${JSON.stringify(scopes)}`];
      for (const [field, value] of Object.entries(rest)) lines.push(`${field} = ${JSON.stringify(value)}`);
      return lines.join("\n");
    })
    .join("\n\n");
}

/** The same entries as JSON. */
export function keysJson(keys: readonly TestKey[]): string {
  return JSON.stringify({ keys: keys.map(({ key, ...rest }) => ({ ...rest, sha256: digestOf(key) })) });
}

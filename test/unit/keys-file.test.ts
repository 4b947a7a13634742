// API_KEYS_FILE: TOML and JSON read alike; a plaintext key, a bad digest, an unknown scope or a reused name refuse to start naming the entry, never the value.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { SCOPES } from "../../src/auth/caller.ts";
import { KeyRegistry } from "../../src/auth/keys.ts";
import { KeysFileError, parseKeysFile } from "../../src/auth/keys-file.ts";
import { newKey, newKeyOptions } from "../../src/auth/keys-new.ts";
import { runCli } from "../../src/cli.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { resolveLimits } from "../../src/runs/budget.ts";
import { NO_LIMITS } from "../../src/runs/model.ts";
import { digestOf, keysJson, keysToml, type TestKey } from "../support/keys.ts";
import { tempDir } from "../support/temp.ts";

const CI: TestKey = { name: "ci", key: "ocs_ci-key-0123456789abcdef0123456789", scopes: ["runs:create", "runs:read"], expires: "2027-01-01T00:00:00Z", max_run_cost_usd: 0.5 };
const ADMIN: TestKey = { name: "ops.team_1", key: "ocs_admin-0123456789abcdef012345678", scopes: ["admin"] };

/** The error a keys file's text makes (its message), or "ok". */
function problem(text: string, file = "keys.toml"): string {
  try {
    parseKeysFile(text, file);
    return "ok";
  } catch (err) {
    if (err instanceof KeysFileError) return err.message;
    throw err;
  }
}

const entry = (fields: string) => `[[keys]]\nname = "ci"\nscopes = ["runs:read"]\n${fields}\n`;

describe("the keys file", () => {
  test("TOML and JSON give the same entries; admin implies every scope", () => {
    for (const [text, file] of [[keysToml([CI, ADMIN]), "keys.toml"], [keysJson([CI, ADMIN]), "keys.json"], [keysJson([CI, ADMIN]), "keys.conf"]] as const) {
      const entries = parseKeysFile(text, file);
      expect(entries.map((e) => ({ ...e, digest: e.digest.toString("hex"), scopes: [...e.scopes].sort() }))).toEqual([
        { name: "ci", digest: digestOf(CI.key), scopes: ["runs:create", "runs:read"], expiresAt: Date.parse("2027-01-01T00:00:00Z"), ceilings: { ...NO_LIMITS, max_cost_usd: 0.5 } },
        { name: "ops.team_1", digest: digestOf(ADMIN.key), scopes: [...SCOPES].sort(), expiresAt: null, ceilings: NO_LIMITS },
      ]);
    }
  });

  test.each([
    ["a plaintext key where the digest goes", entry(`sha256 = "${CI.key}"`), 'entry 1 ("ci"): "sha256" must be the key\'s SHA-256 digest as 64 hex digits (never the key itself; opencode-server keys new prints one)'],
    ["a digest one digit short", entry(`sha256 = "${digestOf(CI.key).slice(1)}"`), 'entry 1 ("ci"): "sha256" must be the key\'s SHA-256 digest as 64 hex digits (never the key itself; opencode-server keys new prints one)'],
    ["a digest with a non-hex digit", entry(`sha256 = "${digestOf(CI.key).slice(1)}g"`), 'entry 1 ("ci"): "sha256" must be the key\'s SHA-256 digest as 64 hex digits (never the key itself; opencode-server keys new prints one)'],
    ["the key in a field of its own", entry(`sha256 = "${digestOf(CI.key)}"\nkey = "${CI.key}"`), 'entry 1 ("ci"): "key" is not a known field (name, sha256, scopes, expires, max_run_cost_usd, max_run_tokens, max_run_steps)'],
    ["an unknown scope", `[[keys]]\nname = "ci"\nsha256 = "${digestOf(CI.key)}"\nscopes = ["runs:read", "runs:delete"]\n`, 'entry 1 ("ci"): unknown scope "runs:delete" (scopes: runs:create, runs:read, runs:read-all, runs:cancel, runs:cancel-all, metrics, admin)'],
    ["no scopes", `[[keys]]\nname = "ci"\nsha256 = "${digestOf(CI.key)}"\nscopes = []\n`, 'entry 1 ("ci"): "scopes" must list at least one scope'],
    ["a name used twice", keysToml([ADMIN, { ...CI, name: "ops.team_1" }]), 'entry 2 ("ops.team_1"): "name" ops.team_1 is used by an earlier entry'],
    ["a name API_KEY's keys have", keysToml([{ ...CI, name: "api-key-1" }]), 'entry 1 ("api-key-1"): "name" api-key-1 is reserved for API_KEY\'s keys (api-key-1, api-key-2, …)'],
    ["a name with a space", keysToml([ADMIN, { ...CI, name: "c i" }]), 'entry 2: "name" must be 1 to 64 of A-Z a-z 0-9 . _ -'],
    ["an expiry that is not a time", keysToml([{ ...CI, expires: "next year" }]), 'entry 1 ("ci"): "expires" must be an ISO 8601 time, e.g. 2027-01-01T00:00:00Z'],
    ["a negative cost ceiling", keysToml([{ ...CI, max_run_cost_usd: -1 }]), 'entry 1 ("ci"): "max_run_cost_usd" Too small: expected number to be >0'],
    ["no keys list", 'name = "ci"\n', 'must hold a "keys" list of entries (TOML: [[keys]] tables; JSON: {"keys": [...]})'],
    ["neither JSON nor TOML", `[[keys]\nsha256 = "${CI.key}"\n`, "not valid JSON or TOML"],
  ])("%s is refused, naming the entry", (_, text, message) => {
    expect(problem(text)).toBe(message);
    expect(problem(text)).not.toContain(CI.key);
  });

  test("a bad file stops start-up: ConfigError names API_KEYS_FILE and the entry, never the value", () => {
    const file = path.join(tempDir("ocs-keys-unit-"), "keys.toml");
    writeFileSync(file, keysToml([ADMIN]) + "\n\n" + entry(`sha256 = "${CI.key}"`));
    let caught: unknown;
    try {
      loadConfig({ API_KEYS_FILE: file, HOME: path.dirname(file) });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect({ variable: (caught as ConfigError).variable, message: (caught as ConfigError).message }).toEqual({
      variable: "API_KEYS_FILE",
      message: `API_KEYS_FILE: ${file}: entry 2 ("ci"): "sha256" must be the key's SHA-256 digest as 64 hex digits (never the key itself; opencode-server keys new prints one)`,
    });
    writeFileSync(file, keysToml([ADMIN]));
    const config = loadConfig({ API_KEYS_FILE: file, HOME: path.dirname(file) });
    expect({ host: config.host, names: config.keysFile?.entries.map((e) => e.name) }).toEqual({ host: "0.0.0.0", names: ["ops.team_1"] });
  });
});

describe("the registry", () => {
  const keys = new KeyRegistry(["plain-api-key-0123456789"], parseKeysFile(keysToml([CI, ADMIN, { name: "old", key: "ocs_old-0123456789abcdef0123456789ab", scopes: ["admin"], expires: "2020-01-01T00:00:00Z" }])), "keys.toml");

  test("API_KEY's keys are api-key-N with every scope; file keys have theirs; an expired key is told apart from a wrong one", () => {
    const named = (presented: string[], now = Date.parse("2026-06-01T00:00:00Z")) => {
      const m = keys.match(presented, now);
      return m.kind === "ok" ? { name: m.caller.name, scopes: m.caller.scopes.size } : m;
    };
    expect(named(["plain-api-key-0123456789"])).toEqual({ name: "api-key-1", scopes: SCOPES.length });
    expect(named([CI.key])).toEqual({ name: "ci", scopes: 2 });
    expect(named(["wrong", ADMIN.key])).toEqual({ name: "ops.team_1", scopes: SCOPES.length });
    expect(named(["ocs_old-0123456789abcdef0123456789ab"])).toEqual({ kind: "expired", name: "old" });
    expect(named([CI.key], Date.parse("2027-01-01T00:00:00Z"))).toEqual({ kind: "expired", name: "ci" });
    expect(named(["ocs_ci-key-0123456789abcdef012345678"])).toEqual({ kind: "none" });
    expect(named([])).toEqual({ kind: "none" });
  });

  test("a keys file with no entries still means authentication is on", () => {
    expect(new KeyRegistry([], [], "keys.toml").enabled).toBe(true);
    expect(new KeyRegistry([], [], null).enabled).toBe(false);
  });
});

describe("per-key budget ceilings", () => {
  const key = { name: "ci", ceilings: { ...NO_LIMITS, max_cost_usd: 0.5, max_steps: 50 } };
  const server = { ...NO_LIMITS, max_cost_usd: 2, max_steps: 20 };

  test("the lower of the key's and the server's applies; a request above it is refused naming that ceiling", () => {
    expect(resolveLimits(NO_LIMITS, server, key)).toEqual({ max_cost_usd: 0.5, max_tokens: null, max_steps: 20 });
    expect(() => resolveLimits({ ...NO_LIMITS, max_cost_usd: 1 }, server, key)).toThrow('Invalid field "max_cost_usd": 1 is above this key\'s ceiling (max_run_cost_usd=0.5 for "ci" in API_KEYS_FILE)');
    expect(() => resolveLimits({ ...NO_LIMITS, max_steps: 30 }, server, key)).toThrow('Invalid field "max_steps": 30 is above this server\'s ceiling (MAX_RUN_STEPS=20)');
  });
});

describe("opencode-server keys new", () => {
  test("a random ocs_ key whose digest is in the entry to paste, which the file parser takes", () => {
    const opts = newKeyOptions(["--name", "ci", "--scopes", "runs:create,runs:read", "--expires=2027-01-01T00:00:00Z"]);
    if (typeof opts === "string") throw new Error(opts);
    const made = newKey(opts);
    expect(made.key).toMatch(/^ocs_[A-Za-z0-9_-]{43}$/);
    for (const [text, file] of [[made.toml, "k.toml"], [JSON.stringify({ keys: [JSON.parse(made.json)] }), "k.json"]] as const) {
      const [parsed] = parseKeysFile(text, file);
      expect({ name: parsed?.name, digest: parsed?.digest.toString("hex"), scopes: [...(parsed?.scopes ?? [])], expiresAt: parsed?.expiresAt }).toEqual({
        name: "ci",
        digest: digestOf(made.key),
        scopes: ["runs:create", "runs:read"],
        expiresAt: Date.parse("2027-01-01T00:00:00Z"),
      });
      expect(text).not.toContain(made.key);
    }
    expect(newKey(opts).key).not.toBe(made.key);
  });

  test.each([
    [["--scopes", "runs:read"], "--name is required"],
    [["--name", "c i"], "--name must be 1 to 64 of A-Z a-z 0-9 . _ -"],
    [["--name", "api-key-2"], "--name api-key-2 is reserved for API_KEY's keys"],
    [["--name", "ci", "--scopes", "runs:read,runs:write"], "unknown scope: runs:write (scopes: runs:create, runs:read, runs:read-all, runs:cancel, runs:cancel-all, metrics, admin)"],
    [["--name", "ci", "--expires", "soon"], "--expires must be an ISO 8601 time, e.g. 2027-01-01T00:00:00Z"],
    [["--name"], "--name needs a value"],
    [["--nme", "ci"], "unknown argument: --nme"],
  ])("%j is refused: %s", (args, message) => {
    expect(newKeyOptions(args)).toBe(message);
  });

  test("the subcommand exits 2 on a bad name, 0 with a key", async () => {
    const write = process.stderr.write.bind(process.stderr);
    const out = process.stdout.write.bind(process.stdout);
    const printed: string[] = [];
    process.stderr.write = ((s: string) => (printed.push(s), true)) as typeof process.stderr.write;
    process.stdout.write = ((s: string) => (printed.push(s), true)) as typeof process.stdout.write;
    try {
      expect(await runCli(["keys", "new", "--name", "bad name"], {})).toBe(2);
      expect(await runCli(["keys", "new", "--name", "ci"], {})).toBe(0);
    } finally {
      process.stderr.write = write;
      process.stdout.write = out;
    }
    expect(printed[0]).toBe("keys new: --name must be 1 to 64 of A-Z a-z 0-9 . _ -\n");
    const lines = (printed[1] ?? "").split("\n");
    expect(lines[0]).toMatch(/^ocs_/);
    expect(lines.slice(1, 3)).toEqual(["# API_KEYS_FILE entry (TOML):", "[[keys]]"]);
    expect(lines).toContain(`sha256 = "${digestOf(lines[0] as string)}"`);
  });
});

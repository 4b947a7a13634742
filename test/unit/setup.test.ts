// Start-up preparation of opencode's home: credentials check, auth.json/config.json files, plugin guard, binary probe.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../../src/config.ts";
import { credentialSources, MISSING_CREDENTIALS, probeVersion, resolveBin, setupOpencode, SetupError } from "../../src/opencode/setup.ts";
import { opencodeBin } from "../support/opencode-env.ts";
import { tempDir } from "../support/temp.ts";

function env(extra: Record<string, string> = {}) {
  const home = tempDir("ocs-setup-");
  return { HOME: home, PATH: process.env.PATH ?? "/usr/bin", WORK_DIR: path.join(home, "work"), OPENCODE_BIN: opencodeBin(), ...extra };
}

const mode = (file: string) => statSync(file).mode & 0o777;

describe("credential sources", () => {
  test("none → the seed's message, naming the other ways", () => {
    const e = env();
    const config = loadConfig(e);
    const authFile = path.join(config.opencode.dirs.data, "auth.json");
    let err: unknown;
    try {
      credentialSources(config, authFile);
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(SetupError);
    expect((err as SetupError).message).toBe(`${MISSING_CREDENTIALS}${authFile})`);
    expect((err as SetupError).message).toStartWith("OPENCODE_AUTH_TOKEN environment variable is required");
  });

  test.each([
    [{ OPENCODE_AUTH_TOKEN: "tok-123456" }, ["OPENCODE_AUTH_TOKEN"]],
    [{ OPENCODE_AUTH_JSON: '{"openai":{"type":"api","key":"sk-1234567"}}' }, ["OPENCODE_AUTH_JSON"]],
    [{ OPENCODE_CONFIG_JSON: '{"provider":{"x":{"options":{"apiKey":"k-1234567"}}}}' }, ['OPENCODE_CONFIG_JSON provider "x"']],
    [{ OPENAI_API_KEY: "sk-openai-123" }, ["OPENAI_API_KEY"]],
  ])("%p is a source", (extra, sources) => {
    const config = loadConfig(env(extra));
    expect(credentialSources(config, path.join(config.opencode.dirs.data, "auth.json"))).toEqual(sources);
  });

  test("an existing auth.json is a source", () => {
    const config = loadConfig(env());
    const authFile = path.join(config.opencode.dirs.data, "auth.json");
    mkdirSync(path.dirname(authFile), { recursive: true });
    writeFileSync(authFile, '{"anthropic":{"type":"api","key":"sk-ant-existing"}}');
    expect(credentialSources(config, authFile)).toEqual([`existing ${authFile}`]);
  });
});

describe("setupOpencode", () => {
  test("writes auth.json (token merged as the opencode provider) and config.json, owner-only, plus the plugin guard", async () => {
    const e = env({
      OPENCODE_AUTH_TOKEN: "oc-token-123456",
      OPENCODE_AUTH_JSON: '{"anthropic":{"type":"oauth","refresh":"r-123456","access":"a-123456","expires":1}}',
      OPENCODE_CONFIG_JSON: '{"theme":"dark","model":"anthropic/claude-sonnet-4-5"}',
    });
    const config = loadConfig(e);
    const setup = setupOpencode(config);
    expect(await probeVersion(config, setup.bin)).toMatch(/^\d+\.\d+\.\d+/);
    expect(JSON.parse(readFileSync(setup.authFile, "utf8"))).toEqual({
      anthropic: { type: "oauth", refresh: "r-123456", access: "a-123456", expires: 1 },
      opencode: { type: "api", key: "oc-token-123456" },
    });
    expect(setup.authFile).toBe(path.join(e.HOME, ".local/share/opencode/auth.json"));
    expect(mode(setup.authFile)).toBe(0o600);
    expect(JSON.parse(readFileSync(setup.configFile, "utf8"))).toEqual({ theme: "dark", model: "anthropic/claude-sonnet-4-5" });
    expect(setup.configFile).toBe(path.join(e.HOME, ".config/opencode/config.json"));
    expect(mode(setup.configFile)).toBe(0o600);
    expect(existsSync(path.join(e.HOME, ".config/opencode/node_modules"))).toBe(true);
    expect(JSON.parse(readFileSync(path.join(e.HOME, ".config/opencode/package-lock.json"), "utf8")).packages[""].dependencies).toEqual({
      "@opencode-ai/plugin": "*",
    });
    expect(setup.extraSecrets.sort()).toEqual(["a-123456", "oc-token-123456", "r-123456"]);
    expect(setup.credentialSources).toEqual(["OPENCODE_AUTH_TOKEN", "OPENCODE_AUTH_JSON"]);
    // The version probe leaves nothing in WORK_DIR.
    expect(require("node:fs").readdirSync(e.WORK_DIR)).toEqual([]);
  });

  test("a token alone is merged into an existing auth.json; an explicit opencode entry wins over the token", async () => {
    const e = env({ OPENCODE_AUTH_TOKEN: "oc-token-999999" });
    const authFile = path.join(e.HOME, ".local/share/opencode/auth.json");
    mkdirSync(path.dirname(authFile), { recursive: true });
    writeFileSync(authFile, '{"openai":{"type":"api","key":"sk-openai-111"}}');
    setupOpencode(loadConfig(e));
    expect(JSON.parse(readFileSync(authFile, "utf8"))).toEqual({
      openai: { type: "api", key: "sk-openai-111" },
      opencode: { type: "api", key: "oc-token-999999" },
    });

    const e2 = env({ OPENCODE_AUTH_TOKEN: "oc-token-999999", OPENCODE_AUTH_JSON: '{"opencode":{"type":"api","key":"from-json-123"}}' });
    const setup = setupOpencode(loadConfig(e2));
    expect(JSON.parse(readFileSync(setup.authFile, "utf8"))).toEqual({ opencode: { type: "api", key: "from-json-123" } });
    expect(setup.warnings).toEqual(['OPENCODE_AUTH_JSON has an "opencode" entry: OPENCODE_AUTH_TOKEN is ignored']);
  });

  test("OPENCODE_BIN that does not exist or does not run fails naming OPENCODE_BIN", async () => {
    expect(() => resolveBin("/nonexistent/opencode", "/usr/bin")).toThrow(SetupError);
    expect(() => resolveBin("no-such-opencode-binary", "/usr/bin")).toThrow('"no-such-opencode-binary" is not on PATH');
    const e = env({ OPENCODE_AUTH_TOKEN: "oc-token-123456", OPENCODE_BIN: "/bin/false" });
    const config = loadConfig(e);
    const err = await probeVersion(config, setupOpencode(config).bin).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(SetupError);
    expect((err as SetupError).variable).toBe("OPENCODE_BIN");
  });
});

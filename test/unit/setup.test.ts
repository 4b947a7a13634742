// Start-up preparation of opencode's home: credentials check, auth.json/config.json files, plugin guard, binary probe.
import { settledDir } from "../support/wait.ts";
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../../src/config.ts";
import { probeVersion } from "../../src/opencode/probe.ts";
import { credentialSources, isLocalUrl, MISSING_CREDENTIALS, readAuthFile, resolveBin, setupOpencode, SetupError } from "../../src/opencode/setup.ts";
import { opencodeBin } from "../support/opencode-env.ts";
import { tempDir } from "../support/temp.ts";

function env(extra: Record<string, string> = {}) {
  const home = tempDir("ocs-setup-");
  return { HOME: home, PATH: process.env.PATH ?? "/usr/bin", WORK_DIR: path.join(home, "work"), OPENCODE_BIN: opencodeBin(), ...extra };
}

const mode = (file: string) => statSync(file).mode & 0o777;

function setupError(fn: () => unknown): SetupError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SetupError) return err;
    throw err;
  }
  throw new Error("expected a SetupError");
}

describe("credential sources", () => {
  test("none → the seed's message, naming the other ways", () => {
    const err = setupError(() => credentialSources(loadConfig(env()), null));
    expect(err.message).toBe(MISSING_CREDENTIALS);
    expect(err.message).toStartWith("OPENCODE_AUTH_TOKEN environment variable is required");
    expect(err.variable).toBe("OPENCODE_AUTH_TOKEN");
  });

  test.each([
    [{ OPENCODE_AUTH_TOKEN: "tok-123456" }, ["OPENCODE_AUTH_TOKEN"]],
    [{ OPENCODE_AUTH_JSON: '{"openai":{"type":"api","key":"sk-1234567"}}' }, ["OPENCODE_AUTH_JSON"]],
    [{ OPENCODE_CONFIG_JSON: '{"provider":{"x":{"options":{"apiKey":"k-1234567"}}}}' }, ['OPENCODE_CONFIG_JSON provider "x"']],
    [{ OPENCODE_CONFIG_JSON: '{"provider":{"ollama":{"options":{"baseURL":"http://127.0.0.1:11434/v1"}}}}' }, ['OPENCODE_CONFIG_JSON provider "ollama" (local, no key)']],
    [{ OPENAI_API_KEY: "sk-openai-123" }, ["OPENAI_API_KEY"]],
  ])("%p is a source", (extra, sources) => {
    expect(credentialSources(loadConfig(env(extra)), null)).toEqual(sources);
  });

  test("a keyless provider on a remote address is not a source", () => {
    const config = loadConfig(env({ OPENCODE_CONFIG_JSON: '{"provider":{"x":{"options":{"baseURL":"https://api.example.com/v1"}}}}' }));
    expect(() => credentialSources(config, null)).toThrow(SetupError);
  });

  test("local addresses: loopback and private ranges only", () => {
    const local = ["http://localhost:11434/v1", "http://127.0.0.2/v1", "http://[::1]:8000", "http://10.1.2.3", "http://172.20.0.1", "http://192.168.1.9", "http://host.docker.internal:11434", "http://[fd00::1]/"];
    const remote = ["https://api.openai.com/v1", "http://172.32.0.1", "http://8.8.8.8", "http://169.254.169.254", "not a url", "http://localhost.example.com"];
    expect(local.filter((u) => !isLocalUrl(u))).toEqual([]);
    expect(remote.filter((u) => isLocalUrl(u))).toEqual([]);
  });

  test("OPENCODE_AUTH_FILE is a source; a missing or malformed file fails naming the variable, never quoting it", () => {
    const dir = tempDir("ocs-authfile-");
    const file = path.join(dir, "auth.json");
    writeFileSync(file, '{"anthropic":{"type":"api","key":"sk-ant-from-file"}}');
    const config = loadConfig(env({ OPENCODE_AUTH_FILE: file }));
    expect(credentialSources(config, readAuthFile(file))).toEqual(["OPENCODE_AUTH_FILE"]);
    expect(setupError(() => readAuthFile(path.join(dir, "missing.json"))).message).toBe(`OPENCODE_AUTH_FILE: cannot read ${dir}/missing.json (ENOENT)`);
    writeFileSync(file, '{"anthropic": "sk-ant-secret-text"');
    const bad = setupError(() => readAuthFile(file));
    expect(bad.variable).toBe("OPENCODE_AUTH_FILE");
    expect(bad.message).not.toContain("sk-ant-secret-text");
    writeFileSync(file, '{"anthropic": "sk-ant-secret-text"}');
    expect(setupError(() => readAuthFile(file)).message).toBe(`OPENCODE_AUTH_FILE: entry "anthropic" in ${file} must be an object with a string "type"`);
  });
});

describe("setupOpencode", () => {
  test("writes auth.json (token merged as the opencode provider) and config.json under DATA_DIR, owner-only, plus the plugin guard", async () => {
    const e = env({
      OPENCODE_AUTH_TOKEN: "oc-token-123456",
      OPENCODE_AUTH_JSON: '{"anthropic":{"type":"oauth","refresh":"r-123456","access":"a-123456","expires":1}}',
      OPENCODE_CONFIG_JSON: '{"theme":"dark","model":"anthropic/claude-sonnet-4-5"}',
    });
    const config = loadConfig(e);
    const setup = setupOpencode(config);
    expect(await probeVersion(config, setup.bin)).toMatch(/^\d+\.\d+\.\d+/);
    const home = path.join(e.HOME, ".local/share/opencode-server/opencode-home");
    expect(setup.authFile).toBe(path.join(home, ".local/share/opencode/auth.json"));
    expect(JSON.parse(readFileSync(setup.authFile, "utf8"))).toEqual({
      anthropic: { type: "oauth", refresh: "r-123456", access: "a-123456", expires: 1 },
      opencode: { type: "api", key: "oc-token-123456" },
    });
    expect(mode(setup.authFile)).toBe(0o600);
    expect(setup.configFile).toBe(path.join(home, ".config/opencode/config.json"));
    expect(JSON.parse(readFileSync(setup.configFile, "utf8"))).toEqual({ theme: "dark", model: "anthropic/claude-sonnet-4-5", snapshot: false });
    expect(mode(setup.configFile)).toBe(0o600);
    expect(existsSync(path.join(home, ".config/opencode/node_modules"))).toBe(true);
    expect(JSON.parse(readFileSync(path.join(home, ".config/opencode/package-lock.json"), "utf8")).packages[""].dependencies).toEqual({
      "@opencode-ai/plugin": "*",
    });
    expect(setup.extraSecrets.sort()).toEqual(["a-123456", "oc-token-123456", "r-123456"]);
    expect(setup.credentialSources).toEqual(["OPENCODE_AUTH_TOKEN", "OPENCODE_AUTH_JSON"]);
    // Nothing in the invoking user's own opencode directories; the version probe leaves nothing in WORK_DIR.
    expect(existsSync(path.join(e.HOME, ".config/opencode"))).toBe(false);
    expect(existsSync(path.join(e.HOME, ".local/share/opencode"))).toBe(false);
    expect(await settledDir(e.WORK_DIR)).toEqual([]);
  });

  test("OPENCODE_AUTH_FILE is read, never written; the token is merged into the server's copy; an explicit opencode entry wins", () => {
    const userAuth = path.join(tempDir("ocs-user-"), "auth.json");
    const original = '{"openai":{"type":"api","key":"sk-openai-111"}}';
    writeFileSync(userAuth, original);
    const setup = setupOpencode(loadConfig(env({ OPENCODE_AUTH_TOKEN: "oc-token-999999", OPENCODE_AUTH_FILE: userAuth })));
    expect(JSON.parse(readFileSync(setup.authFile, "utf8"))).toEqual({
      openai: { type: "api", key: "sk-openai-111" },
      opencode: { type: "api", key: "oc-token-999999" },
    });
    expect(readFileSync(userAuth, "utf8")).toBe(original);
    expect(setup.credentialSources).toEqual(["OPENCODE_AUTH_TOKEN", "OPENCODE_AUTH_FILE"]);

    const e2 = env({ OPENCODE_AUTH_TOKEN: "oc-token-999999", OPENCODE_AUTH_JSON: '{"opencode":{"type":"api","key":"from-json-123"}}' });
    const setup2 = setupOpencode(loadConfig(e2));
    expect(JSON.parse(readFileSync(setup2.authFile, "utf8"))).toEqual({ opencode: { type: "api", key: "from-json-123" } });
    expect(setup2.warnings).toEqual(['OPENCODE_AUTH_JSON has an "opencode" entry: OPENCODE_AUTH_TOKEN is ignored']);
  });

  test("each start rebuilds auth.json and config.json from what is configured now", () => {
    const e = env({ OPENCODE_AUTH_TOKEN: "oc-token-first-1", OPENCODE_CONFIG_JSON: '{"theme":"dark"}' });
    const first = setupOpencode(loadConfig(e));
    const second = setupOpencode(loadConfig({ ...e, OPENCODE_AUTH_TOKEN: "", OPENCODE_CONFIG_JSON: "", ANTHROPIC_API_KEY: "sk-ant-x-123" }));
    expect(second.authFile).toBe(first.authFile);
    expect(JSON.parse(readFileSync(second.authFile, "utf8"))).toEqual({});
    // Only the server's own default is left of the first start's config.
    expect(JSON.parse(readFileSync(second.configFile, "utf8"))).toEqual({ snapshot: false });
  });

  test("opencode's snapshots are off for every run unless OPENCODE_CONFIG_JSON names them, either way", () => {
    const cases = [
      ["", { snapshot: false }],
      ['{"theme":"dark"}', { theme: "dark", snapshot: false }],
      ['{"snapshot":true}', { snapshot: true }],
      ['{"snapshot":false,"theme":"x"}', { snapshot: false, theme: "x" }],
    ] as const;
    for (const [json, want] of cases) {
      const setup = setupOpencode(loadConfig(env({ OPENCODE_AUTH_TOKEN: "oc-token-123456", OPENCODE_CONFIG_JSON: json })));
      expect(JSON.parse(readFileSync(setup.configFile, "utf8"))).toEqual(want);
      // What each run's own home gets (OPENCODE_CONFIG), not just the server's copy.
      expect(JSON.parse(setup.runFiles.config as string)).toMatchObject(want);
    }
  });

  test("OPENCODE_BIN that does not exist or does not run fails naming OPENCODE_BIN", async () => {
    expect(() => resolveBin("/nonexistent/opencode", "/usr/bin")).toThrow(SetupError);
    expect(() => resolveBin("no-such-opencode-binary", "/usr/bin")).toThrow('"no-such-opencode-binary" is not on PATH nor in ./node_modules/.bin');
    const e = env({ OPENCODE_AUTH_TOKEN: "oc-token-123456", OPENCODE_BIN: "/bin/false" });
    const config = loadConfig(e);
    const err = await probeVersion(config, setupOpencode(config).bin).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(SetupError);
    expect((err as SetupError).variable).toBe("OPENCODE_BIN");
  });

  test("a bare name is found in ./node_modules/.bin when PATH lacks it (bun src/main.ts in a checkout)", () => {
    const checkout = tempDir("ocs-checkout-");
    mkdirSync(path.join(checkout, "node_modules/.bin"), { recursive: true });
    const bin = path.join(checkout, "node_modules/.bin/opencode");
    writeFileSync(bin, "#!/bin/sh\n", { mode: 0o755 });
    expect(resolveBin("opencode", "/nonexistent", checkout)).toBe(bin);
  });
});

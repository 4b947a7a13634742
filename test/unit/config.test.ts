// Environment parsing: defaults, fail-fast errors that name the variable, and the agent's allow-listed environment.
import { describe, expect, test } from "bun:test";
import os from "node:os";
import { ConfigError, loadConfig } from "../../src/config.ts";

const base = { HOME: "/home/ocs", PATH: "/usr/bin:/bin" };

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  test("defaults match the seed", () => {
    const c = loadConfig(base);
    expect({
      host: c.host,
      port: c.port,
      apiKeys: c.apiKeys,
      maxExecutionMs: c.maxExecutionMs,
      maxRequestBytes: c.maxRequestBytes,
      maxOutputBytes: c.maxOutputBytes,
      shutdownMs: c.shutdownMs,
      logLevel: c.logLevel,
      workDir: c.workDir,
      bin: c.opencode.bin,
      model: c.opencode.defaultModel,
      dirs: c.opencode.dirs,
    }).toEqual({
      host: "127.0.0.1",
      port: 8080,
      apiKeys: [],
      maxExecutionMs: 300_000,
      maxRequestBytes: 10_485_760,
      maxOutputBytes: 10_485_760,
      shutdownMs: 8_000,
      logLevel: "info",
      workDir: os.tmpdir(),
      bin: "opencode",
      model: null,
      // opencode's files for runs live under DATA_DIR, never in the invoking user's own opencode directories.
      dirs: {
        xdgConfig: "/home/ocs/.local/share/opencode-server/opencode-home/.config",
        xdgData: "/home/ocs/.local/share/opencode-server/opencode-home/.local/share",
        xdgCache: "/home/ocs/.local/share/opencode-server/opencode-home/.cache",
        xdgState: "/home/ocs/.local/share/opencode-server/opencode-home/.local/state",
        config: "/home/ocs/.local/share/opencode-server/opencode-home/.config/opencode",
        data: "/home/ocs/.local/share/opencode-server/opencode-home/.local/share/opencode",
      },
    });
  });

  test("values are parsed: Go durations, sizes, key lists, levels", () => {
    const c = loadConfig({
      ...base,
      PORT: "9000",
      HOST: "127.0.0.1",
      API_KEY: " key-one , key-two ,, ",
      MAX_EXECUTION_TIME: "1m30s",
      MAX_REQUEST_SIZE: "2M",
      MAX_OUTPUT_SIZE: "512k",
      SHUTDOWN_TIMEOUT: "0s",
      LOG_LEVEL: "DEBUG",
      WORK_DIR: "/var/lib/ocs/../ocs/work",
      OPENCODE_MODEL: "anthropic/claude-sonnet-4-5",
      XDG_CONFIG_HOME: "/etc/xdg-ocs",
      DATA_DIR: "/srv/ocs-data",
    });
    expect(c.port).toBe(9000);
    expect(c.host).toBe("127.0.0.1");
    expect(c.apiKeys).toEqual(["key-one", "key-two"]);
    expect(c.maxExecutionMs).toBe(90_000);
    expect(c.maxRequestBytes).toBe(2 * 1024 * 1024);
    expect(c.maxOutputBytes).toBe(512 * 1024);
    expect(c.shutdownMs).toBe(0);
    expect(c.logLevel).toBe("debug");
    expect(c.workDir).toBe("/var/lib/ocs/work");
    expect(c.opencode.defaultModel).toBe("anthropic/claude-sonnet-4-5");
    // The user's XDG_CONFIG_HOME is not where the server keeps opencode's files.
    expect(c.opencode.dirs.config).toBe("/srv/ocs-data/opencode-home/.config/opencode");
  });

  test("HOST: loopback without API_KEY, every interface with one, and always what HOST says", () => {
    const pick = (env: Record<string, string>) => {
      const c = loadConfig({ ...base, ...env });
      return [c.host, c.hostExplicit];
    };
    expect(pick({})).toEqual(["127.0.0.1", false]);
    expect(pick({ API_KEY: "key-1234567890abcdef" })).toEqual(["0.0.0.0", false]);
    expect(pick({ HOST: "0.0.0.0" })).toEqual(["0.0.0.0", true]);
    expect(pick({ HOST: "::1", API_KEY: "key-1234567890abcdef" })).toEqual(["::1", true]);
  });

  test.each([
    ["PORT", "70000"],
    ["PORT", "http"],
    ["MAX_EXECUTION_TIME", "forever"],
    ["MAX_EXECUTION_TIME", "0s"],
    ["MAX_REQUEST_SIZE", "-1"],
    ["MAX_REQUEST_SIZE", "10 parsecs"],
    ["MAX_OUTPUT_SIZE", "0"],
    ["SHUTDOWN_TIMEOUT", "soon"],
    ["LOG_LEVEL", "loud"],
    ["WORK_DIR", "relative/dir"],
    ["OPENCODE_MODEL", "no-slash"],
    ["AGENT_ENV_PASSTHROUGH", "GITHUB_TOKEN"],
    ["ALLOWED_REPO_PREFIXES", "ftp://example.com/"],
    ["ALLOWED_REPO_PREFIXES", "https://user:pw@github.com/"],
    ["ALLOWED_REPO_PREFIXES", "github.com"],
    ["GIT_CLONE_DEPTH", "-1"],
    ["GIT_TIMEOUT", "never"],
    ["DATA_DIR", "relative"],
    ["OPENCODE_AUTH_FILE", "auth.json"],
    ["REPO_CACHE", "maybe"],
    ["CACHE_DIR", "relative"],
    ["CACHE_MAX_BYTES", "0"],
    ["AGENT_ENV_PASSTHROUGH", "bad name"],
    ["MAX_RUN_COST_USD", "-1"],
    ["MAX_RUN_COST_USD", "0"],
    ["MAX_RUN_COST_USD", "$5"],
    ["MAX_RUN_TOKENS", "1.5"],
    ["MAX_RUN_STEPS", "0"],
    ["MAX_RUN_STEPS", "ten"],
  ])("%s=%p fails naming the variable", (name, value) => {
    const err = errorOf({ [name]: value });
    expect(err.variable).toBe(name);
    expect(err.message).toStartWith(`${name}: `);
  });

  test("delivery URLs and lists: exact reasons that never quote the value; good values parsed", () => {
    const cases: [string, string, string][] = [
      ["PUBLIC_URL", "not a url sekret", "is not a URL (expected https://host/path)"],
      ["PUBLIC_URL", "ftp://sekret.example/", "must start with https:// or http://"],
      ["PUBLIC_URL", "https://sekret.example/?t=1", "must not have a query or fragment"],
      ["WEBHOOK_URL", "https://user:sekret@hooks.example/", "must not contain credentials"],
      ["WEBHOOK_URL", "https://hooks.example/?t=sekret#x", "must not have a fragment"],
      ["WEBHOOK_ALLOWED_PREFIXES", "ftp://sekret.example/", expect.any(String) as unknown as string],
      ["FORGES", "https://sekret.example/=bitbucket", expect.any(String) as unknown as string],
    ];
    for (const [name, value, reason] of cases) {
      const err = errorOf({ [name]: value });
      expect([err.variable, err.message.slice(name.length + 2), name.endsWith("_URL") && err.message.includes("sekret")]).toEqual([name, reason, false]);
    }
    const c = loadConfig({ ...base, PUBLIC_URL: "https://ocs.example/base//", WEBHOOK_URL: "https://hooks.example/in?token=t", WEBHOOK_SECRET: "0123456789abcdef", FORGES: "https://git.example/=gitea" });
    expect([c.publicUrl, c.webhooks.url, c.forges.map((f) => f.prefix)]).toEqual(["https://ocs.example/base", "https://hooks.example/in?token=t", ["https://git.example/", "https://github.com/"]]);
  });

  test("budget ceilings: none by default; MAX_RUN_* set each", () => {
    expect(loadConfig(base).runs.ceilings).toEqual({ max_cost_usd: null, max_tokens: null, max_steps: null });
    expect(loadConfig({ ...base, MAX_RUN_COST_USD: "0.5", MAX_RUN_TOKENS: "200000", MAX_RUN_STEPS: "40" }).runs.ceilings).toEqual({ max_cost_usd: 0.5, max_tokens: 200_000, max_steps: 40 });
  });

  test("repository settings and their defaults", () => {
    const d = loadConfig(base);
    expect(d.git).toEqual({
      bin: "git",
      allowedPrefixes: ["https://github.com/"],
      githubToken: null,
      gitToken: null,
      tokenUsername: "x-access-token",
      authorName: "opencode-server",
      authorEmail: "opencode-server@localhost",
      cloneDepth: 1,
      inactivityTimeoutMs: 120_000,
      baseEnv: { PATH: "/usr/bin:/bin" },
      cache: { dir: "/home/ocs/.local/share/opencode-server/mirrors", maxBytes: 10 * 1024 ** 3 },
      repoSpares: 2,
    });
    expect(d.dataDir).toBe("/home/ocs/.local/share/opencode-server");
    const c = loadConfig({
      ...base,
      ALLOWED_REPO_PREFIXES: "https://github.com/acme/, http://git.internal:8080/",
      GITHUB_TOKEN: "ghp_123456",
      GIT_TOKEN: "glpat-123456",
      GIT_TOKEN_USERNAME: "oauth2",
      GIT_CLONE_DEPTH: "0",
      GIT_TIMEOUT: "30s",
      DATA_DIR: "/var/lib/ocs",
      HTTPS_PROXY: "http://proxy:3128",
    });
    expect(c.git.allowedPrefixes).toEqual(["https://github.com/acme/", "http://git.internal:8080/"]);
    expect([c.git.githubToken, c.git.gitToken, c.git.tokenUsername, c.git.cloneDepth, c.git.inactivityTimeoutMs]).toEqual(["ghp_123456", "glpat-123456", "oauth2", 0, 30_000]);
    expect(c.git.baseEnv).toEqual({ PATH: "/usr/bin:/bin", HTTPS_PROXY: "http://proxy:3128" });
    expect(c.dataDir).toBe("/var/lib/ocs");
    expect(c.git.cache).toEqual({ dir: "/var/lib/ocs/mirrors", maxBytes: 10 * 1024 ** 3 });
    expect(loadConfig({ ...base, REPO_CACHE: "off" }).git.cache).toBeNull();
    expect(loadConfig({ ...base, CACHE_DIR: "/srv/mirrors", CACHE_MAX_BYTES: "512M" }).git.cache).toEqual({ dir: "/srv/mirrors", maxBytes: 512 * 1024 ** 2 });
    expect(c.secrets).toEqual(expect.arrayContaining(["ghp_123456", "glpat-123456"]));
    expect([loadConfig({ ...base, REPO_SPARES: "0" }).git.repoSpares, loadConfig({ ...base, REPO_SPARES: "5" }).git.repoSpares]).toEqual([0, 5]);
    for (const bad of ["-1", "17", "two"]) expect(errorOf({ ...base, REPO_SPARES: bad })).toMatchObject({ variable: "REPO_SPARES", message: expect.stringContaining("0 to 16") });
  });

  test("invalid JSON in a secret-carrying variable is reported without echoing it", () => {
    const secret = "sk-ant-oat01-SECRETSECRET";
    for (const name of ["OPENCODE_AUTH_JSON", "OPENCODE_CONFIG_JSON"]) {
      const err = errorOf({ [name]: `{"anthropic": {"type": "oauth", "access": ${secret}}}` });
      expect(err.variable).toBe(name);
      expect(err.message).not.toContain("SECRET");
      expect(err.message).toContain("not valid JSON");
    }
    expect(errorOf({ OPENCODE_AUTH_JSON: "[1,2]" }).message).toContain("must be a JSON object");
    expect(errorOf({ OPENCODE_AUTH_JSON: '{"anthropic": "sk-x"}' }).message).toBe(
      'OPENCODE_AUTH_JSON: entry "anthropic" must be an object with a string "type" (api, oauth or wellknown)',
    );
  });

  test("the agent's environment is an allow-list without the server's secrets", () => {
    const c = loadConfig({
      ...base,
      API_KEY: "server-api-key-123",
      GITHUB_TOKEN: "ghp_servertoken123",
      GIT_TOKEN: "git-token-123456",
      OPENCODE_AUTH_TOKEN: "oc-token-123456",
      OPENCODE_AUTH_JSON: '{"anthropic":{"type":"api","key":"sk-ant-123456"}}',
      ANTHROPIC_API_KEY: "sk-ant-env-123456",
      AWS_REGION: "eu-west-1",
      LC_ALL: "C.UTF-8",
      LANG: "C.UTF-8",
      HTTPS_PROXY: "http://proxy:3128",
      OPENCODE_DISABLE_MODELS_FETCH: "1",
      DATABASE_URL: "postgres://secret",
      NPM_TOKEN: "npm-secret-123",
      AGENT_ENV_PASSTHROUGH: "NPM_TOKEN",
    });
    expect(c.agentEnv).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/home/ocs/.local/share/opencode-server/opencode-home",
      XDG_CONFIG_HOME: "/home/ocs/.local/share/opencode-server/opencode-home/.config",
      XDG_DATA_HOME: "/home/ocs/.local/share/opencode-server/opencode-home/.local/share",
      XDG_CACHE_HOME: "/home/ocs/.local/share/opencode-server/opencode-home/.cache",
      XDG_STATE_HOME: "/home/ocs/.local/share/opencode-server/opencode-home/.local/state",
      ANTHROPIC_API_KEY: "sk-ant-env-123456",
      AWS_REGION: "eu-west-1",
      LC_ALL: "C.UTF-8",
      LANG: "C.UTF-8",
      HTTPS_PROXY: "http://proxy:3128",
      OPENCODE_DISABLE_MODELS_FETCH: "1",
      OPENCODE_DISABLE_AUTOUPDATE: "1",
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: "opencode-server",
      GIT_AUTHOR_EMAIL: "opencode-server@localhost",
      GIT_COMMITTER_NAME: "opencode-server",
      GIT_COMMITTER_EMAIL: "opencode-server@localhost",
      NPM_TOKEN: "npm-secret-123",
    });
    expect(c.providerCredentialVars).toEqual(["ANTHROPIC_API_KEY"]);
    for (const s of ["server-api-key-123", "ghp_servertoken123", "git-token-123456", "oc-token-123456", "sk-ant-123456", "sk-ant-env-123456"]) {
      expect(c.secrets).toContain(s);
    }
  });
});

describe("documentation of the variables", () => {
  test("--help documents exactly the variables the schema reads, with the schema's defaults", async () => {
    const { EnvSchema, ENV_DOCS, DEFAULTS } = await import("../../src/config.ts");
    expect(ENV_DOCS.map((d) => d.name).sort()).toEqual(Object.keys(EnvSchema.shape).sort());
    for (const [name, value] of Object.entries(DEFAULTS)) expect(ENV_DOCS.find((d) => d.name === name)?.default).toBe(value);
  });

  test("the README documents every variable", async () => {
    const { ENV_DOCS } = await import("../../src/config.ts");
    const readme = await Bun.file(new URL("../../README.md", import.meta.url)).text();
    const missing = ENV_DOCS.map((d) => d.name).filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

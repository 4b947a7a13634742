// The Quick start as a developer meets it: their own opencode files stay untouched, and `bun run demo` works without a provider.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { readJson } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { ROOT, SOURCE_CMD, spawnServer } from "../support/process-server.ts";
import { waitFor } from "../support/wait.ts";

let llm: FakeLlm;
beforeAll(() => {
  llm = startFakeLlm();
});
afterAll(async () => {
  await llm?.stop();
});

test("a developer's own ~/.local/share/opencode/auth.json and ~/.config/opencode stay exactly as they were", async () => {
  const env = opencodeServerEnv(llm, { OPENCODE_AUTH_TOKEN: "your-opencode-token" });
  const home = env.HOME as string;
  // What a developer who uses opencode already has.
  const own = {
    auth: path.join(home, ".local/share/opencode/auth.json"),
    config: path.join(home, ".config/opencode/config.json"),
  };
  mkdirSync(path.dirname(own.auth), { recursive: true });
  mkdirSync(path.dirname(own.config), { recursive: true });
  writeFileSync(own.auth, '{"anthropic":{"type":"api","key":"sk-ant-the-developers-own-key"}}');
  writeFileSync(own.config, '{"theme":"the-developers-own"}');
  const before = { auth: readFileSync(own.auth, "utf8"), config: readFileSync(own.config, "utf8") };

  const server = await spawnServer(SOURCE_CMD, env);
  try {
    const res = await fetch(`${server.url}/run`, { method: "POST", headers: { "content-type": "text/plain" }, body: fakeScript({ bash: "echo hi" }, { text: "done" }) });
    expect(res.status).toBe(200);
  } finally {
    expect(await server.stop()).toBe(0);
  }
  expect({ auth: readFileSync(own.auth, "utf8"), config: readFileSync(own.config, "utf8") }).toEqual(before);
  // Nothing of the server's beside them: no plugin guard, no lock file, no second config.
  expect(readdirSync(path.dirname(own.config)).sort()).toEqual(["config.json"]);
  expect(readdirSync(path.dirname(own.auth)).sort()).toEqual(["auth.json"]);
  // The server's own copies live under DATA_DIR (default $XDG_DATA_HOME/opencode-server).
  const serverHome = path.join(home, ".local/share/opencode-server/opencode-home");
  expect(JSON.parse(readFileSync(path.join(serverHome, ".local/share/opencode/auth.json"), "utf8"))).toEqual({ opencode: { type: "api", key: "your-opencode-token" } });
  expect(existsSync(path.join(serverHome, ".config/opencode/package-lock.json"))).toBe(true);
});

test("`bun run demo` answers a run with its stand-in model, no provider account needed", async () => {
  const proc = Bun.spawn([process.execPath, path.join(ROOT, "scripts/demo.ts"), "--port", "0"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: opencodeServerEnv(llm).HOME },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  void (async () => {
    for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
  })();
  try {
    const url = await waitFor(() => /demo on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1], { what: "the demo's banner", timeoutMs: 60_000 });
    const res = await fetch(`${url}/run`, { method: "POST", headers: { "content-type": "text/plain" }, body: "Write a function to calculate fibonacci numbers" });
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body).toMatchObject({ success: true, model: "fake/fake-model", tools: [{ tool: "bash", status: "completed" }] });
    expect(String(body.output)).toContain("You asked:\n\nWrite a function to calculate fibonacci numbers");
  } finally {
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }
});

// Smoke test of the compiled single-file binary, started from outside the repository with only env vars.
import { readJson, type JsonObject } from "../support/http.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { ROOT, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { buildBinary } from "../../scripts/build.ts";
import { tempDir } from "../support/temp.ts";

const API_KEY = "binary-smoke-key-0123456789";
let llm: FakeLlm;
let server: ServerProcess;
let binary: string;
let env: Record<string, string>;

async function exec(args: string[], extraEnv: Record<string, string> = {}) {
  const proc = Bun.spawn([binary, ...args], { env: { ...env, ...extraEnv }, cwd: tempDir("ocs-bin-cwd-"), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

beforeAll(async () => {
  const out = path.join(tempDir("ocs-bin-"), "opencode-server");
  binary = out;
  await buildBinary(out);
  llm = startFakeLlm();
  env = opencodeServerEnv(llm, { API_KEY });
  server = await spawnServer([out], env, { cwd: tempDir("ocs-bin-cwd-") });
});

afterAll(async () => {
  expect(await server?.stop("SIGTERM")).toBe(0);
  await llm?.stop();
});

test("health", async () => {
  const res = await fetch(`${server.url}/health`);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ status: "healthy", opencode_version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
});

test("Swagger UI works offline: only local asset URLs, all embedded and served", async () => {
  const html = await (await fetch(`${server.url}/swagger`)).text();
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
  expect(refs.sort()).toEqual(["/swagger/assets/init.js", "/swagger/assets/swagger-ui-bundle.js", "/swagger/assets/swagger-ui.css"]);
  for (const ref of refs) {
    const res = await fetch(`${server.url}${ref}`);
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(ref.endsWith("init.js") ? 50 : 10_000);
  }
  const spec = (await readJson(await fetch(`${server.url}/swagger/json`))) as { paths: JsonObject };
  expect(Object.keys(spec.paths).sort()).toEqual(["/health", "/metrics", "/run", "/runs", "/runs/{id}", "/runs/{id}/cancel", "/runs/{id}/diff", "/runs/{id}/events", "/runs/{id}/messages"]);
});

test("the dashboard is embedded: /ui and its bundled script and stylesheet, gzipped, from a binary started outside the repository", async () => {
  const page = await fetch(`${server.url}/ui`);
  const html = await page.text();
  expect([page.status, page.headers.get("content-security-policy")?.startsWith("default-src 'none'")]).toEqual([200, true]);
  const refs = [...html.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
  expect(refs.map((r) => r.replace(/\.[0-9a-z]{1,10}\./, ".HASH.")).sort()).toEqual(["/ui/assets/app.HASH.css", "/ui/assets/app.HASH.js", "/ui/assets/icon.HASH.svg"]);
  const js = await fetch(`${server.url}${refs.find((r) => r.endsWith(".js"))}`, { headers: { "accept-encoding": "gzip" }, decompress: false });
  expect([js.status, js.headers.get("content-encoding")]).toEqual([200, "gzip"]);
  expect(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await js.arrayBuffer())))).toContain("opencode-server.key");
});

test("a real run through the binary", async () => {
  expect((await fetch(`${server.url}/run`, { method: "POST", body: "hi" })).status).toBe(401);
  const res = await fetch(`${server.url}/run`, {
    method: "POST",
    headers: { "x-api-key": API_KEY, "content-type": "text/plain" },
    body: `say hi\n${fakeScript({ bash: "echo from-the-binary" }, { text: "tool said {{tool_output}}" })}`,
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ success: true, output: "tool said from-the-binary", exit_code: 0 });
});

test("--version and --help work without starting a server; --help lists every variable with its default", async () => {
  const { ENV_DOCS } = await import("../../src/config.ts");
  const { VERSION } = await import("../../src/version.ts");
  const version = await exec(["--version"]);
  expect(version).toEqual({ stdout: `opencode-server ${VERSION}\n`, stderr: "", code: 0 });
  const help = await exec(["--help"]);
  expect(help.code).toBe(0);
  for (const doc of ENV_DOCS) expect(help.stdout).toMatch(new RegExp(`^  ${doc.name} .*${doc.default ? `\\(default: ${doc.default.replace(/[$/.]/g, "\\$&")}\\)` : ""}$`, "m"));
  expect((await exec(["--bogus"])).code).toBe(2);
});

test("healthcheck exits 0 against the running server and 1 when nothing listens", async () => {
  const port = new URL(server.url).port;
  expect((await exec(["healthcheck"], { PORT: port })).code).toBe(0);
  const down = await exec(["healthcheck"], { PORT: "1" });
  expect(down.code).toBe(1);
  expect(down.stderr).toStartWith("healthcheck: http://127.0.0.1:1/health:");
});

test("the binary reads no .env or bunfig.toml from its working directory, and refuses a port already in use", async () => {
  const cwd = tempDir("ocs-bin-cwd-");
  const marker = path.join(cwd, "preloaded");
  writeFileSync(path.join(cwd, ".env"), "API_KEY=from-dotenv-0123456789\nPORT=1\n");
  writeFileSync(path.join(cwd, "bunfig.toml"), 'preload = ["./evil.ts"]\n');
  writeFileSync(path.join(cwd, "evil.ts"), `require("fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`);
  const { API_KEY: _key, ...withoutKey } = env;
  const open = await spawnServer([binary], withoutKey, { cwd });
  try {
    // No API_KEY came from .env: the server is open (and says so), and nothing was preloaded.
    expect((await fetch(`${open.url}/runs`)).status).toBe(200);
    expect(open.records().some((r) => r.level === "warn" && String(r.msg).startsWith("API_KEY is not set"))).toBe(true);
    expect(existsSync(marker)).toBe(false);
    // A second server on the same port fails to start instead of sharing it: one clean JSON error line,
    // no stack, no minified source, no SQL schema.
    const port = new URL(open.url).port;
    const second = await exec([], { ...withoutKey, PORT: port });
    expect(second.code).toBe(1);
    const lines = (second.stderr + second.stdout).split("\n").filter(Boolean);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.filter((r) => r.level === "error")).toEqual([
      { time: expect.any(String), level: "error", msg: `cannot listen on 127.0.0.1:${port}: the port is already in use (set PORT to a free one)` },
    ]);
    expect(second.stderr + second.stdout).not.toMatch(/CREATE TABLE|at <anonymous>|\^/);
  } finally {
    expect(await open.stop("SIGTERM")).toBe(0);
  }
});

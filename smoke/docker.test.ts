// Docker smoke test: builds the real Dockerfile on stand-in base images and checks the running container.
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import { fakeProviderConfig } from "../test/support/opencode-env.ts";
import { fakeScript, startFakeLlm, type FakeLlm } from "../test/support/fake-llm.ts";
import { readJson } from "../test/support/http.ts";
import { waitFor } from "../test/support/wait.ts";
import { docker, ensureBaseImages, freePort, sh } from "./support/docker.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const IMAGE = "opencode-server:smoke";
const API_KEY = "docker-smoke-key-0123456789";
const NAME = `ocs-smoke-${process.pid}`;
const containers: string[] = [];
let llm: FakeLlm;

function report(line: string): void {
  process.stdout.write(`[docker smoke] ${line}\n`);
}

beforeAll(async () => {
  const bunVersion = (await Bun.file(path.join(ROOT, ".bun-version")).text()).trim();
  const started = performance.now();
  const bases = await ensureBaseImages(bunVersion);
  report(`base images ${JSON.stringify(bases)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const build = performance.now();
  await docker("build", "--network", "host", "-t", IMAGE, ROOT);
  report(`docker build in ${((performance.now() - build) / 1000).toFixed(1)} s`);
  llm = startFakeLlm();
});

afterAll(async () => {
  for (const c of containers) await sh(["docker", "rm", "-f", c], { check: false });
  await llm?.stop();
});

const SECCOMP = path.join(ROOT, "deploy/docker/seccomp-bwrap.json");
/** What docker-compose.yml and the README give `docker run` so each run gets its bubblewrap sandbox. */
const SANDBOX_FLAGS = ["--security-opt", `seccomp=${SECCOMP}`, "--security-opt", "systempaths=unconfined"];

async function start(suffix: string, env: Record<string, string> = {}, flags: string[] = SANDBOX_FLAGS): Promise<{ name: string; url: string }> {
  const name = `${NAME}-${suffix}`;
  const port = freePort();
  const vars = {
    PORT: String(port),
    API_KEY,
    OPENCODE_MODEL: "fake/fake-model",
    OPENCODE_CONFIG_JSON: JSON.stringify(fakeProviderConfig(llm)),
    OPENCODE_AUTH_JSON: JSON.stringify({ anthropic: { type: "api", key: "sk-ant-docker-smoke" } }),
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    ...env,
  };
  // Host networking: the fake LLM listens on the host's loopback only.
  await docker("run", "-d", "--name", name, "--network", "host", "--health-interval", "1s", ...flags, ...Object.entries(vars).flatMap(([k, v]) => ["-e", `${k}=${v}`]), IMAGE);
  containers.push(name);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/health`).catch(() => null))?.status === 200, { what: `${name} /health`, timeoutMs: 30_000 });
  return { name, url };
}

async function timeStop(name: string): Promise<number> {
  const t = performance.now();
  await docker("stop", "--time", "30", name);
  return (performance.now() - t) / 1000;
}

test("the image: size, non-root user, and the tools runs need", async () => {
  const size = Number((await docker("image", "inspect", "-f", "{{.Size}}", IMAGE)).stdout.trim());
  report(`image size ${(size / 1024 / 1024).toFixed(0)} MiB (${size} bytes)`);
  expect(size).toBeGreaterThan(0);
  const config = JSON.parse((await docker("image", "inspect", "-f", "{{json .Config}}", IMAGE)).stdout) as Record<string, unknown>;
  expect(config.User).toBe("opencode");
  expect(config.ExposedPorts).toEqual({ "8080/tcp": {} });
  expect(config.StopSignal).toBe("SIGTERM");
  expect((config.Healthcheck as { Test: string[] }).Test).toEqual(["CMD", "/usr/local/bin/opencode-server", "healthcheck"]);
  const tools = await docker("run", "--rm", "--entrypoint", "sh", IMAGE, "-c", "id -u; id -un; echo $HOME; git --version; rg --version | head -1; opencode --version; opencode-server --version; bwrap --version");
  const [uid, user, home, ...versions] = tools.stdout.trim().split("\n");
  expect(Number(uid)).toBeGreaterThan(0);
  expect([user, home]).toEqual(["opencode", "/home/opencode"]);
  expect(versions[0]).toStartWith("git version");
  expect(versions[1]).toStartWith("ripgrep");
  expect(versions[2]).toMatch(/^\d+\.\d+\.\d+$/);
  expect(versions[3]).toStartWith("opencode-server ");
  expect(versions[4]).toStartWith("bubblewrap ");
});

test("the container serves /health, the healthcheck passes, Swagger UI works offline, the seed's credentials land in the server's opencode home", async () => {
  const { name, url } = await start("serve");
  await waitFor(async () => (await docker("inspect", "-f", "{{.State.Health.Status}}", name)).stdout.trim() === "healthy", { what: "docker health", timeoutMs: 30_000 });
  expect((await docker("exec", name, "opencode-server", "healthcheck")).code).toBe(0);
  const html = await (await fetch(`${url}/swagger`)).text();
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
  expect(refs.sort()).toEqual(["/swagger/assets/init.js", "/swagger/assets/swagger-ui-bundle.js", "/swagger/assets/swagger-ui.css"]);
  for (const ref of refs) expect((await fetch(`${url}${ref}`)).status).toBe(200);
  // The dashboard is in the image too: its page and the files it names.
  const ui = await (await fetch(`${url}/ui`)).text();
  const assets = [...ui.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
  expect(assets).toHaveLength(3);
  for (const ref of assets) expect((await fetch(`${url}${ref}`)).status).toBe(200);
  // OPENCODE_AUTH_JSON and OPENCODE_CONFIG_JSON, as the seed passes them: opencode's auth.json and config.json (under DATA_DIR).
  const home = "/var/lib/opencode-server/data/opencode-home";
  const files = await docker("exec", name, "stat", "-c", "%U %a %n", `${home}/.local/share/opencode/auth.json`, `${home}/.config/opencode/config.json`);
  expect(files.stdout.trim().split("\n")).toEqual([`opencode 600 ${home}/.local/share/opencode/auth.json`, `opencode 600 ${home}/.config/opencode/config.json`]);
  const auth = await docker("exec", name, "cat", `${home}/.local/share/opencode/auth.json`);
  expect(JSON.parse(auth.stdout)).toEqual({ anthropic: { type: "api", key: "sk-ant-docker-smoke" } });
  const pid1 = await docker("exec", name, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; stat -c %U /proc/1");
  expect(pid1.stdout.trim().split("\n")).toEqual(["/usr/local/bin/opencode-server ", "opencode"]);
  const stop = await timeStop(name);
  report(`docker stop (idle) ${stop.toFixed(2)} s`);
  expect((await docker("inspect", "-f", "{{.State.ExitCode}}", name)).stdout.trim()).toBe("0");
});

test("with the shipped seccomp profile each run is sandboxed by bubblewrap; the seed's plain docker run falls back to Landlock, loudly", async () => {
  const sandboxed = await start("bwrap");
  const plain = await start("plain", {}, []);
  const sandboxOf = async (url: string) => (await readJson(await fetch(`${url}/health`))).sandbox;
  expect([await sandboxOf(sandboxed.url), await sandboxOf(plain.url)]).toEqual(["bwrap", "landlock"]);
  const logs = (await sh(["docker", "logs", plain.name])).stderr + (await sh(["docker", "logs", plain.name])).stdout;
  expect(logs).toContain("runs are sandboxed with Landlock");
  for (const { name, url } of [sandboxed, plain]) {
    // The agent's view: its own PID 1 under bwrap (the server is not there), the server's files out of reach either way.
    const res = await fetch(`${url}/run`, {
      method: "POST",
      headers: { "x-api-key": API_KEY, "content-type": "text/plain" },
      body: fakeScript({ bash: "echo pid1=$(cat /proc/1/comm); cat /var/lib/opencode-server/data/opencode-server.db >/dev/null 2>&1 && echo store=readable || echo store=unreadable" }, { text: "{{tool_output}}" }),
    });
    expect(res.status).toBe(200);
    const output = String((await readJson(res)).output);
    report(`${name}: ${output.replaceAll("\n", " ")}`);
    expect(output).toContain("store=unreadable");
    expect(output).toContain(name === sandboxed.name ? "pid1=bwrap" : "pid1=opencode-server");
  }
});

test("a real opencode run inside the container; docker stop with a run in flight stops it gracefully within seconds", async () => {
  const { name, url } = await start("run", { SHUTDOWN_TIMEOUT: "2s" });
  const res = await fetch(`${url}/run`, {
    method: "POST",
    headers: { "x-api-key": API_KEY, "content-type": "text/plain" },
    body: `hello\n${fakeScript({ bash: "echo inside-the-container; id -un" }, { text: "tool said {{tool_output}}" })}`,
  });
  expect(res.status).toBe(200);
  expect(await readJson(res)).toMatchObject({ success: true, output: "tool said inside-the-container\nopencode", exit_code: 0 });

  const inFlight = fetch(`${url}/run`, {
    method: "POST",
    headers: { "x-api-key": API_KEY, "content-type": "text/plain" },
    body: fakeScript({ say: "Working.", bash: "sleep 300", timeout: 600_000 }),
  });
  await waitFor(async () => (await docker("top", name)).stdout.includes("sleep 300"), {
    what: "the agent's sleep in the container",
    timeoutMs: 60_000,
  });
  const stop = await timeStop(name);
  report(`docker stop (run in flight, SHUTDOWN_TIMEOUT=2s) ${stop.toFixed(2)} s`);
  // Exit code 0, not 137: the server stopped by itself on SIGTERM, well before Docker's 30 s SIGKILL.
  expect((await docker("inspect", "-f", "{{.State.ExitCode}}", name)).stdout.trim()).toBe("0");
  const answer = await inFlight;
  expect(answer.status).toBe(503);
  expect(await readJson(answer)).toMatchObject({ code: "shutting_down", output: "Working." });
});

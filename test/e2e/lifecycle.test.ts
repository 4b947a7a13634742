// The server as a real process: fail-fast start-up errors, and SIGTERM with a run in flight.
import { readJson } from "../support/http.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { SOURCE_CMD, spawnServer } from "../support/process-server.ts";
import { processesRunning } from "../support/procs.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor, settledDir } from "../support/wait.ts";

let llm: FakeLlm;
beforeAll(() => {
  llm = startFakeLlm();
});
afterAll(async () => {
  await llm?.stop();
});

async function startFails(env: Record<string, string>) {
  const proc = Bun.spawn(SOURCE_CMD, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: out + err };
}

describe("start-up", () => {
  test("without any provider credential: exit 1 with the seed's message", async () => {
    const home = tempDir("ocs-nocred-");
    const { code, output } = await startFails({ HOME: home, PATH: process.env.PATH ?? "/usr/bin" });
    expect(code).toBe(1);
    const record = JSON.parse(output.trim().split("\n").at(-1) as string);
    expect(record.level).toBe("error");
    expect(record.variable).toBe("OPENCODE_AUTH_TOKEN");
    expect(record.msg).toStartWith("OPENCODE_AUTH_TOKEN environment variable is required");
    expect(record.msg).toContain("OPENCODE_AUTH_JSON");
    expect(record.msg).toContain("ANTHROPIC_API_KEY");
  });

  test("an invalid variable: exit 1 naming it, never echoing a secret", async () => {
    const home = tempDir("ocs-badcfg-");
    const secret = "sk-ant-oat01-do-not-print-me";
    const { code, output } = await startFails({ HOME: home, PATH: process.env.PATH ?? "/usr/bin", OPENCODE_AUTH_JSON: `{"anthropic": ${secret}` });
    expect(code).toBe(1);
    expect(output).not.toContain("do-not-print-me");
    expect(JSON.parse(output.trim())).toMatchObject({ level: "error", variable: "OPENCODE_AUTH_JSON", msg: expect.stringContaining("OPENCODE_AUTH_JSON: is not valid JSON") });
  });
});

describe("SIGTERM", () => {
  test("idle: exits 0 at once", async () => {
    const env = opencodeServerEnv(llm);
    const server = await spawnServer(SOURCE_CMD, env);
    const started = performance.now();
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(server.records().at(-1)).toMatchObject({ msg: "shutdown complete" });
  });

  test("with a run in flight: 503 for new runs, the run is stopped after SHUTDOWN_TIMEOUT, nothing survives, exit 0", async () => {
    const env = opencodeServerEnv(llm, { SHUTDOWN_TIMEOUT: "2s" });
    const server = await spawnServer(SOURCE_CMD, env);
    const cmd = `sleep 323.${process.pid}`;
    const inFlight = fetch(`${server.url}/run`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: fakeScript({ say: "Working on it.", bash: cmd, timeout: 600_000 }),
    });
    await waitFor(() => processesRunning(cmd).length > 0, { what: "the agent's sleep", timeoutMs: 60_000 });
    server.proc.kill("SIGTERM");
    await server.waitForLog((r) => r.msg === "shutting down", "drain start");
    const refused = await fetch(`${server.url}/run`, { method: "POST", headers: { "content-type": "text/plain" }, body: "too late" });
    expect(refused.status).toBe(503);
    expect((await readJson(refused)).code).toBe("shutting_down");
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(503);
    const res = await inFlight;
    expect(res.status).toBe(503);
    expect(await readJson(res)).toMatchObject({
      success: false,
      code: "shutting_down",
      error: "The server shut down before the run finished (SHUTDOWN_TIMEOUT)",
      output: "Working on it.",
    });
    expect(await server.proc.exited).toBe(0);
    expect(processesRunning(cmd)).toEqual([]);
    expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
  });
});

// What a new user meets first, as real processes: the listening address, start-up failures, model checks, Ctrl-C.
import { afterEach, describe, expect, test } from "bun:test";
import { SAME_SIGNAL_MS } from "../../src/lib/signals.ts";
import { agentServerEnv, faultGate } from "../support/fake-opencode.ts";
import { readJson } from "../support/http.ts";
import { processesWithEnv } from "../support/procs.ts";
import { ROOT, SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const started: ServerProcess[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop("SIGKILL");
});

async function serve(env: Record<string, string>): Promise<ServerProcess> {
  const server = await spawnServer(SOURCE_CMD, { ...env, LOG_LEVEL: "debug" }, { waitForOpencode: true });
  started.push(server);
  return server;
}

/** Runs the server expecting it to refuse to start; returns its exit code and every line it printed. */
async function startFails(cmd: string[], env: Record<string, string>) {
  const proc = Bun.spawn(cmd, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, lines: (out + err).split("\n").filter(Boolean) };
}

const reachable = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.status,
    () => null,
  );

describe("the listening address", () => {
  test("without API_KEY and HOST: loopback only, and /health says auth is none", async () => {
    const env = agentServerEnv();
    delete env.HOST;
    const server = await serve(env);
    const port = new URL(server.url).port;
    expect(server.url).toBe(`http://127.0.0.1:${port}`);
    expect(await reachable(`http://127.0.0.1:${port}/health`)).toBe(200);
    // 127.0.0.2 is this machine too, but not the address the server bound.
    expect(await reachable(`http://127.0.0.2:${port}/health`)).toBeNull();
    expect(await readJson(await fetch(`${server.url}/health`))).toMatchObject({ auth: "none" });
    expect(server.records().find((r) => r.level === "warn" && String(r.msg).startsWith("API_KEY is not set: only this machine"))).toBeDefined();
  });

  test("HOST=0.0.0.0 without API_KEY: every interface, with a loud warning", async () => {
    const server = await serve(agentServerEnv({ HOST: "0.0.0.0" }));
    const port = new URL(server.url).port;
    expect(await reachable(`http://127.0.0.2:${port}/health`)).toBe(200);
    expect(server.records().find((r) => r.level === "warn" && String(r.msg).includes("anyone who can reach this port can run an agent"))).toBeDefined();
  });

  test("with API_KEY and no HOST: every interface, and /health says auth is api_key", async () => {
    const env = agentServerEnv({ API_KEY: "startup-test-key-0123456789" });
    delete env.HOST;
    const server = await serve(env);
    expect(server.url).toStartWith("http://0.0.0.0:");
    const port = new URL(server.url).port;
    expect(await readJson(await fetch(`http://127.0.0.2:${port}/health`))).toMatchObject({ auth: "api_key" });
  });
});

describe("start-up failures are one clean line and exit 1", () => {
  test("a server that never says it listens is killed by the test harness, not left running", async () => {
    const marker = `never-listens-${process.pid}`;
    const env = { ...agentServerEnv({ REPLICA_ID: marker }), LOG_LEVEL: "warn" };
    await expect(spawnServer(SOURCE_CMD, env, { startTimeoutMs: 2000 })).rejects.toThrow("the listening log line");
    expect(processesWithEnv(`REPLICA_ID=${marker}`)).toEqual([]);
  });

  test("a port already in use", async () => {
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const { code, lines } = await startFails(SOURCE_CMD, agentServerEnv({ PORT: String(holder.port) }));
      expect(code).toBe(1);
      // Nothing but JSON log lines (no stack, no source excerpt), and one error among them.
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records.filter((r) => r.level === "error")).toEqual([{
        time: expect.any(String),
        level: "error",
        msg: `cannot listen on 127.0.0.1:${holder.port}: the port is already in use (set PORT to a free one)`,
      }]);
    } finally {
      holder.stop(true);
    }
  });

  // The store opens while the sandbox is probed: a sandbox that cannot work is still reported at once, not after the
  // database's connect timeout (this test's own timeout is shorter than that).
  test("an explicit SANDBOX that cannot work here, with a database that does not answer: the sandbox's line at once", async () => {
    const env = agentServerEnv({ PATH: tempDir("ocs-empty-path-"), SANDBOX: "bwrap", DATABASE_URL: "postgres://app:s3cret-pass@127.0.0.1:1/none", DATABASE_CONNECT_TIMEOUT: "120s" });
    const { code, lines } = await startFails(SOURCE_CMD, env);
    expect(code).toBe(1);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.filter((r) => r.level === "error")).toEqual([{
      time: expect.any(String),
      level: "error",
      msg: expect.stringMatching(/^SANDBOX=bwrap: bwrap \(bubblewrap\) is not installed or not on PATH/),
      variable: "SANDBOX",
    }]);
  }, 30_000);

  test("an unknown OPENCODE_MODEL: refused with the near matches, before any run can use it", async () => {
    const { code, lines } = await startFails(SOURCE_CMD, agentServerEnv({ OPENCODE_MODEL: "fake/fake-modle" }));
    expect(code).toBe(1);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.filter((r) => r.level === "error")).toEqual([
      {
        time: expect.any(String),
        level: "error",
        msg: 'OPENCODE_MODEL: "fake/fake-modle" is not a model opencode can use here; near matches: fake/fake-model, fake/other-model, opencode/big-pickle',
        variable: "OPENCODE_MODEL",
      },
    ]);
  });
});

describe("request models", () => {
  test("once the model list is known, an unknown model is a 400 naming the field, and no agent starts", async () => {
    const server = await serve(agentServerEnv({ OPENCODE_MODEL: "fake/fake-model" }));
    const res = await fetch(`${server.url}/run`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "ok", model: "fake/no-such-model" }),
    });
    expect(res.status).toBe(400);
    expect(await readJson(res)).toEqual({
      success: false,
      code: "invalid_request",
      error: 'Invalid field "model": "fake/no-such-model" is not a model opencode can use here; near matches: fake/other-model, fake/fake-model, opencode/big-pickle',
      field: "model",
      request_id: expect.any(String),
    });
    const list = await readJson(await fetch(`${server.url}/runs`));
    expect(list.runs).toEqual([]);
    // A known one runs.
    const ok = await fetch(`${server.url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "ok", model: "fake/other-model" }) });
    expect(ok.status).toBe(200);
  });
});

describe("signals", () => {
  async function inFlight(server: ServerProcess, gate: { path: string }) {
    const answer = fetch(`${server.url}/run`, { method: "POST", headers: { "content-type": "text/plain" }, body: `after ${gate.path} ok` }).then(async (r) => ({
      status: r.status,
      body: await readJson(r),
    }));
    await waitFor(async () => (await readJson(await fetch(`${server.url}/health`))).runs_in_flight === 1, { what: "the run in flight" });
    // Wrapped: an async function returning the promise itself would wait for the answer.
    return { answer };
  }

  test("a second signal within the same-press window (Ctrl-C under `bun run start`) is the same press: the run in flight may finish", async () => {
    const server = await serve(agentServerEnv({ SHUTDOWN_TIMEOUT: "60s" }));
    const gate = faultGate();
    const { answer } = await inFlight(server, gate);
    server.proc.kill("SIGINT");
    // Two kills at once would merge into one pending signal: the second goes as soon as the first is seen.
    await server.waitForLog((r) => r.msg === "signal received", "the first signal");
    server.proc.kill("SIGINT");
    await server.waitForLog((r) => r.msg === "signal ignored: the same press as the first", "the duplicate signal");
    await gate.fire();
    expect(await answer).toMatchObject({ status: 200, body: { success: true, output: "armed\nok" } });
    expect(await server.proc.exited).toBe(0);
    expect(server.records().filter((r) => r.msg === "signal received")).toHaveLength(1);
  });

  test("a second signal skips the grace period: the run is stopped at once and the server exits", async () => {
    const server = await serve(agentServerEnv({ SHUTDOWN_TIMEOUT: "60s" }));
    const gate = faultGate();
    const { answer } = await inFlight(server, gate);
    server.proc.kill("SIGINT");
    const first = await server.waitForLog((r) => r.msg === "shutting down", "the first signal's drain");
    const firstAt = Date.parse(String(first.time));
    // Later than the same-press window: this is a person pressing Ctrl-C again.
    await waitFor(() => Date.now() - firstAt > SAME_SIGNAL_MS, { what: "the same-press window to pass", timeoutMs: 5000 });
    server.proc.kill("SIGINT");
    expect(await answer).toMatchObject({ status: 503, body: { success: false, code: "shutting_down" } });
    expect(await server.proc.exited).toBe(0);
    expect(server.records().filter((r) => r.msg === "signal received").map((r) => r.action)).toEqual(["draining; send it again to stop runs now", "stopping runs now"]);
  });

  test("one Ctrl-C in a terminal under `bun run start` drains; the run in flight finishes", async () => {
    const env = { ...agentServerEnv({ SHUTDOWN_TIMEOUT: "60s", LOG_LEVEL: "debug" }), TERM: "dumb" };
    // `script` gives `bun run start` a terminal; a ^C written to it becomes SIGINT for the foreground process group.
    const proc = Bun.spawn(["script", "-qefc", "bun run start", "/dev/null"], { cwd: ROOT, env, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const lines: string[] = [];
    const decoder = new TextDecoder();
    void (async () => {
      for await (const chunk of proc.stdout) lines.push(...decoder.decode(chunk).split(/\r?\n/).filter(Boolean));
    })();
    const records = () => lines.flatMap((l) => (l.startsWith("{") ? [JSON.parse(l) as Record<string, unknown>] : []));
    try {
      const listening = await waitFor(() => records().find((r) => r.msg === "opencode ready") && records().find((r) => r.msg === "listening"), { what: "the server", timeoutMs: 30_000 });
      const server = { url: String(listening.url) } as ServerProcess;
      const gate = faultGate();
      const { answer } = await inFlight(server, gate);
      proc.stdin.write("\x03");
      await proc.stdin.flush();
      await waitFor(() => records().find((r) => r.msg === "shutting down"), { what: "the drain" });
      await gate.fire();
      expect(await answer).toMatchObject({ status: 200, body: { success: true } });
      // `bun run` itself reports the interrupt (130); the server drained and exited cleanly.
      await proc.exited;
      expect(records().at(-1)).toMatchObject({ msg: "shutdown complete" });
      const ignored = records().filter((r) => r.msg === "signal ignored: the same press as the first").length;
      process.stdout.write(`[startup] one Ctrl-C under bun run start: ${1 + ignored} SIGINT(s) delivered, counted as 1\n`);
    } finally {
      proc.kill("SIGKILL");
    }
  });
});

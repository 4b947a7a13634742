// Secret canaries: every server secret is a unique canary; every kind of run and refusal happens; no canary shows up anywhere it must not.
//
// The server runs as a process under an unprivileged user (as deployed), with the real opencode CLI,
// the fake LLM and a loopback git server. The agent dumps everything it can see (environment,
// /proc, git config, its ancestors' environments); what the fake LLM received is the real check,
// because it is not redacted by the server. Answers, events, logs, files and git objects are
// scanned too. Positive controls prove each canary was really in play and that the scanner finds it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fakeScript, startFakeLlm, type FakeLlm, type FakeStep } from "../support/fake-llm.ts";
import { startGitServer, type GitServer } from "../support/git-server.ts";
import { opencodeBin } from "../support/opencode-env.ts";
import { SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { listProcesses, processesMatching, processesWithEnv } from "../support/procs.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor, settledDir } from "../support/wait.ts";
import { figure, scale } from "./support/figures.ts";
import { canary, gitObjects, procEnviron, SecretScanner } from "./support/secrets-scan.ts";
import { decodeContinuation } from "../../src/runs/continuation.ts";
import { Database } from "bun:sqlite";
import { serverUser } from "./support/server-user.ts";

const SUITE = "secrets";
const RUN_COOKIE = "OPENCODE_SERVER_RUN_ID";
const REDACTED = "[REDACTED]";
// Long enough for any other run on a loaded 2-core machine (they take 5-16 s); the timeout run
// overlaps the other scenarios, so its wait costs no wall time.
const MAX_EXECUTION = "30s";
const MAX_REQUEST_BYTES = 64 * 1024;
/** How many times the successful runs are repeated (more runs, more chances for a leak to show). */
const REPEATS = scale(1, 3);

const C = {
  apiKey: canary("API_KEY"),
  githubToken: canary("GITHUB_TOKEN"),
  gitToken: canary("GIT_TOKEN"),
  authToken: canary("OPENCODE_AUTH_TOKEN"),
  /** The fake provider's key in OPENCODE_AUTH_JSON: it may go to the fake LLM as its Authorization header, nowhere else. */
  providerKey: canary("AUTH_JSON_FAKE_KEY"),
  /** A second auth.json entry no run uses. */
  spareAuthKey: canary("AUTH_JSON_SPARE_KEY"),
  /** An apiKey inside OPENCODE_CONFIG_JSON (an unused provider). */
  configKey: canary("CONFIG_JSON_KEY"),
};
const CANARIES = Object.values(C);
const scanner = new SecretScanner(CANARIES);
/** The server's copies of the provider credentials, which opencode needs: the only places canaries may be. */
const credentialFiles = () =>
  new Set([path.join(dirs.data, "opencode-home/.local/share/opencode/auth.json"), path.join(dirs.data, "opencode-home/.config/opencode/config.json")]);
const basic = (token: string) => `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;

let llm: FakeLlm;
let git: GitServer;
/** A git host that wants a different token: GIT_TOKEN is offered to it and refused. */
let otherGit: GitServer;
let server: ServerProcess;
let serverPid: number;
/** How the server contains its agents (SANDBOX=auto: bwrap here, where it works). */
let sandbox: unknown;
let dirs: { home: string; work: string; data: string; cache: string; gate: string };
let scenarios = 0;
let redactions = 0;
let logLinesScanned = 0;
let processesScanned = 0;
let sseEvents = 0;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

function parseJson(a: Answer): Record<string, unknown> {
  return JSON.parse(a.text) as Record<string, unknown>;
}

function countRedactions(text: string): void {
  redactions += text.split(REDACTED).length - 1;
}

/** Every HTTP exchange goes through here: its status line, headers and body are scanned. */
async function call(label: string, pathname: string, init: RequestInit & { key?: string | null } = {}): Promise<Answer> {
  const { key = C.apiKey.value, headers, ...rest } = init;
  const res = await fetch(`${server.url}${pathname}`, {
    ...rest,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(headers as Record<string, string> | undefined) },
  });
  const text = await res.text();
  const head = [`HTTP ${res.status} ${res.statusText}`, ...[...res.headers].map(([k, v]) => `${k}: ${v}`)].join("\n");
  scanner.scan(`answer ${label} (${res.status})`, `${head}\n\n${text}`);
  countRedactions(`${head}\n${text}`);
  return { status: res.status, headers: res.headers, text };
}

const postJson = (label: string, pathname: string, body: unknown, headers: Record<string, string> = {}) =>
  call(label, pathname, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

/** Parses a whole text/event-stream answer into its events' data. */
function sseData(label: string, text: string): Record<string, unknown>[] {
  const events = text
    .split("\n\n")
    .map((block) => block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n"))
    .filter(Boolean)
    .map((data) => JSON.parse(data) as Record<string, unknown>);
  if (events.length === 0) throw new Error(`${label}: no events in ${JSON.stringify(text.slice(0, 500))}`);
  sseEvents += events.length;
  return events;
}

// ---- the agent's side -------------------------------------------------------------------------

let markers = 0;
const newMarker = (name: string) => `secrets-gate-${name}-${process.pid}-${++markers}`;

/**
 * What the agent runs: dumps everything a malicious agent would look at, optionally writes files
 * into the repository (they get committed and pushed), then waits until the test has looked at
 * its processes (the gate file) — or, for the timeout run, until it is killed.
 */
function agentScript(marker: string, opts: { writeFiles: boolean; gate: "release" | "never" }): string {
  const gate = path.join(dirs.gate, opts.gate === "release" ? marker : `${marker}-never`);
  const limit = opts.gate === "release" ? 1200 : 4800;
  return [
    `echo "== ${marker}"`,
    `echo "== env"; env | sort`,
    `echo "== /proc/self/environ"; tr '\\0' '\\n' < /proc/self/environ; echo`,
    `echo "== .git/config"; cat .git/config 2>&1`,
    `echo "== git config --list --show-origin"; git config --list --show-origin 2>&1`,
    `echo "== ancestors"`,
    `p=$$`,
    `while [ "$p" -gt 1 ] 2>/dev/null; do`,
    `  if e=$(tr '\\0' '\\n' 2>/dev/null < /proc/$p/environ); then echo "-- pid $p readable"; printf '%s\\n' "$e"; else echo "-- pid $p unreadable"; fi`,
    `  p=$(awk '/^PPid:/ {print $2}' /proc/$p/status 2>/dev/null)`,
    `done`,
    ...(opts.writeFiles
      ? [`env | sort > AGENT_ENV.txt`, `cat .git/config > GIT_CONFIG.txt 2>&1`, `echo "changed by ${marker}" > CHANGED.md`]
      : []),
    // Waits for the test (a condition with a deadline), so its processes can be inspected while it runs.
    `i=0; while [ ! -e '${gate}' ] && [ $i -lt ${limit} ]; do sleep 0.05; i=$((i+1)); done`,
    `[ -e '${gate}' ] && echo gate-released || echo gate-timeout`,
  ].join("\n");
}

function prompt(title: string, ...steps: FakeStep[]): string {
  return `${title}\n${fakeScript(...steps)}`;
}

/** The bash tool's output for `marker`, exactly as the fake LLM received it. */
function toolOutputSeenByLlm(marker: string): string {
  for (const r of llm.requests) {
    for (const m of r.body.messages ?? []) {
      if (m.role === "tool" && typeof m.content === "string" && m.content.includes(`== ${marker}\n`)) return m.content;
    }
  }
  throw new Error(`the fake LLM never received the tool output of ${marker}`);
}

/** The dump is real: it shows the agent's environment, and the server's environment was out of reach. */
function expectRealDump(marker: string, repoUrl: string | null): void {
  const seen = toolOutputSeenByLlm(marker);
  expect(seen).toMatch(new RegExp(`^${RUN_COOKIE}=[0-9a-f-]{36}$`, "m"));
  expect(seen).toContain("== /proc/self/environ\n");
  // opencode (the bash tool's parent) is readable; the server, running as the same user, is not: it is
  // non-dumpable, and in bwrap's PID namespace it is not there at all (the ancestors end in the sandbox).
  expect(seen).toMatch(/^-- pid \d+ readable$/m);
  if (sandbox === "bwrap") expect(seen).not.toContain(`-- pid ${serverPid} `);
  else expect(seen).toContain(`-- pid ${serverPid} unreadable`);
  if (repoUrl) {
    expect(seen).toContain(`[remote "origin"]`);
    expect(seen).toContain(`url = ${repoUrl}`);
    expect(seen).toMatch(/^file:\.git\/config\s+remote\.origin\.url=/m);
  }
  expect(seen).toContain("gate-released");
}

/**
 * Waits until the agent's gated shell runs, then reads /proc/<pid>/environ and cmdline of every
 * process carrying that run's cookie (opencode, bash, its children). Gives up if `answered` first.
 */
async function inspectWhileAgentRuns(label: string, marker: string, answered: () => boolean): Promise<string> {
  const found = await waitFor(
    () => {
      if (answered()) return { runId: null };
      for (const p of processesMatching(marker)) {
        const env = procEnviron(p.pid);
        const id = env && new RegExp(`(?:^|\\0)${RUN_COOKIE}=([0-9a-f-]{36})(?:\\0|$)`).exec(env)?.[1];
        if (id) return { runId: id };
      }
      return null;
    },
    { what: `the agent of ${label} at its gate`, timeoutMs: 60_000, intervalMs: 50 },
  );
  if (!found.runId) throw new Error(`${label} answered before its agent reached the gate`);
  const runId = found.runId;
  const pids = processesWithEnv(`${RUN_COOKIE}=${runId}`);
  const procs = new Map(listProcesses().map((p) => [p.pid, p]));
  let read = 0;
  for (const pid of pids) {
    const env = procEnviron(pid);
    if (env === null) continue;
    scanner.scan(`/proc/${pid}/environ+cmdline (${label}, ${procs.get(pid)?.comm ?? "?"})`, `${env}\n${procs.get(pid)?.cmdline ?? ""}`);
    read++;
  }
  processesScanned += read;
  // At least opencode itself and the shell of its bash tool.
  expect(read).toBeGreaterThanOrEqual(2);
  expect(pids.some((pid) => procs.get(pid)?.cmdline.includes(`--title=opencode-server ${runId}`))).toBe(true);
  return runId;
}

/** Sends a run request and, while its agent waits at the gate, inspects its processes; then lets it finish. */
async function gatedRun(label: string, marker: string, send: () => Promise<Answer>): Promise<{ answer: Answer; runId: string }> {
  let answered = false;
  const pending = send().finally(() => (answered = true));
  let runId: string;
  try {
    runId = await inspectWhileAgentRuns(label, marker, () => answered);
  } catch (err) {
    const a = await pending.catch(() => null);
    throw new Error(`${label}: ${err instanceof Error ? err.message : String(err)}; answer: ${a?.status} ${a?.text.slice(0, 1000)}`);
  }
  writeFileSync(path.join(dirs.gate, marker), "");
  scenarios++;
  return { answer: await pending, runId };
}

// ---- set-up -----------------------------------------------------------------------------------

beforeAll(async () => {
  llm = startFakeLlm();
  git = startGitServer({ token: C.gitToken.value });
  otherGit = startGitServer({ token: "the-other-hosts-own-token-1234567890" });
  await git.createRepo("app", { private: true, files: { "README.md": "# app\n" } });
  await git.createRepo("locked", { private: true, readOnly: true, files: { "README.md": "# locked\n" } });
  await otherGit.createRepo("app", { private: true });

  const user = serverUser();
  dirs = {
    home: tempDir("ocs-secrets-home-"),
    work: tempDir("ocs-secrets-work-"),
    data: tempDir("ocs-secrets-data-"),
    cache: tempDir("ocs-secrets-cache-"),
    gate: tempDir("ocs-secrets-gate-"),
  };
  user.own(dirs.home, dirs.work, dirs.data, dirs.cache);
  // The agent only looks for files here; the test creates them.
  chmodSync(dirs.gate, 0o755);

  const models = { "fake-model": { name: "Fake", tool_call: true, limit: { context: 128000, output: 8192 } } };
  const configJson = {
    provider: {
      // No apiKey here: the fake provider's key comes from OPENCODE_AUTH_JSON.
      fake: { npm: "@ai-sdk/openai-compatible", name: "Fake", options: { baseURL: llm.baseURL }, models },
      spare: { npm: "@ai-sdk/openai-compatible", name: "Spare", options: { baseURL: "http://127.0.0.1:9/v1", apiKey: C.configKey.value }, models },
    },
    share: "disabled",
    autoupdate: false,
  };
  const authJson = { fake: { type: "api", key: C.providerKey.value }, anthropic: { type: "api", key: C.spareAuthKey.value } };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dirs.home,
    HOST: "127.0.0.1",
    PORT: "0",
    WORK_DIR: dirs.work,
    DATA_DIR: dirs.data,
    CACHE_DIR: dirs.cache,
    LOG_LEVEL: "debug",
    OPENCODE_BIN: opencodeBin(),
    OPENCODE_MODEL: "fake/fake-model",
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_CONFIG_JSON: JSON.stringify(configJson),
    OPENCODE_AUTH_JSON: JSON.stringify(authJson),
    OPENCODE_AUTH_TOKEN: C.authToken.value,
    API_KEY: C.apiKey.value,
    GITHUB_TOKEN: C.githubToken.value,
    GIT_TOKEN: C.gitToken.value,
    ALLOWED_REPO_PREFIXES: `${git.url}/,${otherGit.url}/,http://127.0.0.1:1/`,
    MAX_EXECUTION_TIME: MAX_EXECUTION,
    MAX_REQUEST_SIZE: String(MAX_REQUEST_BYTES),
    MAX_CONCURRENT_RUNS: "2",
    // The agents wait for the test's gate files: the only host directory beyond the system they see.
    SANDBOX_READ_PATHS: dirs.gate,
    // Runs are found by their run cookie and opencode run's title; a warm agent carries its own cookie
    // (it booted before the run existed): its environment is checked in warm-agents-repo.test.ts.
    WARM_AGENTS: "0",
  };
  server = await spawnServer(user.wrap(SOURCE_CMD), env);
  serverPid = server.proc.pid;
  sandbox = (await (await fetch(`${server.url}/health`)).json() as { sandbox: unknown }).sandbox;
}, 60_000);

afterAll(async () => {
  if (server && server.proc.exitCode === null) await server.stop();
  await git?.stop();
  await otherGit?.stop();
  await llm?.stop();
});

// ---- scenarios --------------------------------------------------------------------------------

describe("secret canaries", () => {
  let timeoutRun: Promise<Answer> | undefined;

  test("a repository run that outlives MAX_EXECUTION_TIME starts first (its agent is inspected while it hangs)", async () => {
    const marker = newMarker("timeout");
    let answered = false;
    const body = { prompt: prompt("Hang until stopped", { bash: agentScript(marker, { writeFiles: true, gate: "never" }), timeout: 600_000 }), repository: git.repoUrl("app") };
    timeoutRun = postJson("timeout /run", "/run", body).finally(() => (answered = true));
    await inspectWhileAgentRuns("timeout /run", marker, () => answered);
    scenarios++;
  }, 90_000);

  test("success: a plain run whose answer repeats the agent's dump", async () => {
    for (let i = 0; i < REPEATS; i++) {
      const marker = newMarker("plain");
      const { answer } = await gatedRun("plain /run", marker, () =>
        postJson("plain /run", "/run", { prompt: prompt("Show me everything", { bash: agentScript(marker, { writeFiles: false, gate: "release" }), timeout: 600_000 }, { text: "{{tool_output}}" }) }),
      );
      expect(answer.status).toBe(200);
      expect(String(parseJson(answer).output)).toContain(`== ${marker}`);
      expectRealDump(marker, null);
    }
  }, 120_000);

  test("success: a repository run changes files, commits and pushes", async () => {
    for (let i = 0; i < REPEATS; i++) {
      const marker = newMarker("repo");
      const { answer } = await gatedRun("repository /run", marker, () =>
        postJson("repository /run", "/run", {
          prompt: prompt("Record the environment", { bash: agentScript(marker, { writeFiles: true, gate: "release" }), timeout: 600_000 }, { text: "{{tool_output}}" }),
          repository: git.repoUrl("app"),
        }),
      );
      expect(answer.status).toBe(200);
      const body = parseJson(answer);
      expect(body).toMatchObject({ success: true, pushed: true, changed: true, files_changed: ["AGENT_ENV.txt", "CHANGED.md", "GIT_CONFIG.txt"] });
      expect(await git.git("app", "show", `${String(body.branch)}:CHANGED.md`)).toBe(`changed by ${marker}\n`);
      expectRealDump(marker, git.repoUrl("app"));
    }
  }, 120_000);

  test("agent failure: the provider answers 401 after the agent worked in a repository (partial work pushed)", async () => {
    const marker = newMarker("provider-401");
    const { answer } = await gatedRun("provider 401 /run", marker, () =>
      postJson("provider 401 /run", "/run", {
        prompt: prompt("Fail after working", { bash: agentScript(marker, { writeFiles: true, gate: "release" }), timeout: 600_000 }, { status: 401, message: "Incorrect API key provided" }),
        repository: git.repoUrl("app"),
      }),
    );
    expect(answer.status).toBe(500);
    expect(parseJson(answer)).toMatchObject({ code: "agent_failed", pushed: true, changed: true });
    expectRealDump(marker, git.repoUrl("app"));
  }, 90_000);

  test("push error: a repository that refuses pushes → 502 push_failed, the work saved as an undelivered patch", async () => {
    const marker = newMarker("push-error");
    const { answer, runId } = await gatedRun("push error /run", marker, () =>
      postJson("push error /run", "/run", {
        prompt: prompt("Change a read-only repository", { bash: agentScript(marker, { writeFiles: true, gate: "release" }), timeout: 600_000 }, { text: "done" }),
        repository: git.repoUrl("locked"),
      }),
    );
    expect(answer.status).toBe(502);
    expect(parseJson(answer)).toMatchObject({ code: "push_failed", pushed: false, changed: true });
    const patch = path.join(dirs.data, "undelivered", `${runId}.patch`);
    expect(existsSync(patch)).toBe(true);
    // The patch holds the agent's dump of its environment: scanned with DATA_DIR below.
    expect(readFileSync(patch, "utf8")).toContain(`changed by ${marker}`);
    expectRealDump(marker, git.repoUrl("locked"));
  }, 90_000);

  test("clone errors: a missing repository, a host that refuses our token, a host that is down", async () => {
    const missing = await postJson("clone missing", "/run", { prompt: "hi", repository: `${git.url}/missing.git` });
    const refused = await postJson("clone wrong token", "/run", { prompt: "hi", repository: otherGit.repoUrl("app") });
    const down = await postJson("clone host down", "/run", { prompt: "hi", repository: "http://127.0.0.1:1/gone.git" });
    for (const a of [missing, refused, down]) {
      expect(a.status).toBe(502);
      expect(parseJson(a).code).toBe("clone_failed");
    }
    // The token was offered to the other host (it is an allowed host) and refused there; it is still in no answer.
    expect(otherGit.requests.some((r) => r.authorization === basic(C.gitToken.value))).toBe(true);
    scenarios += 3;
  }, 60_000);

  test("validation errors: 400, 401, 403, 404, 413, 415 — and an unknown base branch (a git round trip)", async () => {
    const expectCode = (a: Answer, status: number, code: string) => {
      expect({ status: a.status, code: parseJson(a).code }).toEqual({ status, code });
    };
    const prompt1 = { prompt: "hi" };
    expectCode(await call("401 no key", "/run", { method: "POST", key: null, body: "hi" }), 401, "unauthorized");
    expectCode(await call("401 wrong bearer", "/run", { method: "POST", key: `${C.apiKey.value}x`, body: "hi" }), 401, "unauthorized");
    expectCode(await call("401 wrong x-api-key", "/runs", { key: null, headers: { "x-api-key": C.githubToken.value } }), 401, "unauthorized");
    expectCode(await call("401 api-key scheme", "/metrics", { key: null, headers: { authorization: `Api-Key ${C.gitToken.value}` } }), 401, "unauthorized");
    expectCode(await call("401 unknown route", "/nope", { key: null }), 401, "unauthorized");
    expectCode(await call("400 invalid json", "/run", { method: "POST", headers: { "content-type": "application/json" }, body: "{" }), 400, "invalid_request");
    expectCode(await postJson("400 unknown field", "/run", { ...prompt1, token: "x" }), 400, "invalid_request");
    expectCode(await postJson("400 blank prompt", "/run", { prompt: "  " }), 400, "invalid_request");
    expectCode(await postJson("400 credentials in url", "/run", { ...prompt1, repository: `http://user:pass@${git.url.slice(7)}/app.git` }), 400, "invalid_request");
    expectCode(await postJson("400 file url", "/run", { ...prompt1, repository: "file:///etc/passwd" }), 400, "invalid_request");
    expectCode(await postJson("400 bad branch", "/run", { ...prompt1, repository: git.repoUrl("app"), branch: "a..b" }), 400, "invalid_request");
    expectCode(await postJson("400 unknown base", "/run", { ...prompt1, repository: git.repoUrl("app"), base: "no-such-base" }), 400, "invalid_request");
    expectCode(await postJson("403 not allowed", "/run", { ...prompt1, repository: "https://github.com/elsewhere/repo.git" }), 403, "repository_not_allowed");
    expectCode(await call("404 route", "/nope"), 404, "not_found");
    expectCode(await call("404 run", "/runs/00000000-0000-4000-8000-000000000000"), 404, "not_found");
    const big = "x".repeat(MAX_REQUEST_BYTES + 1024);
    expectCode(await call("413 content-length", "/run", { method: "POST", headers: { "content-type": "text/plain" }, body: big }), 413, "payload_too_large");
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 80; i++) controller.enqueue(new TextEncoder().encode("y".repeat(1024)));
        controller.close();
      },
    });
    expectCode(await call("413 chunked", "/runs", { method: "POST", headers: { "content-type": "text/plain" }, body: chunked }), 413, "payload_too_large");
    const form = new FormData();
    form.set("prompt", "hi");
    expectCode(await call("415 multipart", "/run", { method: "POST", body: form }), 415, "unsupported_media_type");
    // Routes every client reads: nothing secret in them either.
    expect((await call("health", "/health", { key: null })).status).toBe(200);
    expect((await call("metrics", "/metrics")).status).toBe(200);
    expect((await call("openapi", "/swagger/json", { key: null })).status).toBe(200);
    scenarios++;
  }, 60_000);

  test("async: POST /runs, its SSE stream, replay, status, list, idempotency, cancel-after-finish; and POST /run streamed", async () => {
    const marker = newMarker("async");
    const body = {
      prompt: prompt("Async work", { bash: agentScript(marker, { writeFiles: true, gate: "release" }), timeout: 600_000 }, { text: "{{tool_output}}" }),
      repository: git.repoUrl("app"),
    };
    let created: Answer | undefined;
    // The "answer" of this exchange is the event stream, which ends after the run's result.
    const { answer: stream } = await gatedRun("POST /runs", marker, async () => {
      created = await postJson("POST /runs", "/runs", body, { "idempotency-key": `secrets-${process.pid}` });
      if (created.status !== 202) return created;
      return call("GET /runs/:id/events", `/runs/${String(parseJson(created).id)}/events`);
    });
    if (!created) throw new Error("POST /runs never answered");
    expect(created.status).toBe(202);
    const id = String(parseJson(created).id);
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    const live = sseData("live events", stream.text);
    expect(live.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
    expect(live.some((e) => e.type === "tool")).toBe(true);
    expect(live.some((e) => e.type === "git" && e.action === "pushed")).toBe(true);

    const replay = await call("GET events after 1", `/runs/${id}/events`, { headers: { "last-event-id": "1" } });
    expect(sseData("replayed events", replay.text).length).toBe(live.length - 1);
    expect(parseJson(await call("GET /runs/:id", `/runs/${id}`))).toMatchObject({ status: "succeeded" });
    expect((await call("GET /runs", "/runs?limit=100")).status).toBe(200);
    const again = await postJson("POST /runs replay", "/runs", body, { "idempotency-key": `secrets-${process.pid}` });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await postJson("POST /runs conflict", "/runs", { prompt: "other" }, { "idempotency-key": `secrets-${process.pid}` })).status).toBe(422);
    expect((await call("DELETE finished run", `/runs/${id}`, { method: "DELETE" })).status).toBe(409);
    expectRealDump(marker, git.repoUrl("app"));

    const streamedMarker = newMarker("streamed");
    const { answer: streamed } = await gatedRun("POST /run (SSE)", streamedMarker, () =>
      call("POST /run (SSE)", "/run", {
        method: "POST",
        headers: { "content-type": "text/plain", accept: "text/event-stream" },
        body: prompt("Streamed", { bash: agentScript(streamedMarker, { writeFiles: false, gate: "release" }), timeout: 600_000 }, { text: "{{tool_output}}" }),
      }),
    );
    expect(sseData("POST /run stream", streamed.text).at(-1)).toMatchObject({ type: "result", status: "succeeded" });
    expectRealDump(streamedMarker, null);
  }, 120_000);

  test("timeout: the hung run answers 408, its partial work pushed", async () => {
    if (!timeoutRun) throw new Error("the timeout run was never started");
    const answer = await timeoutRun;
    expect(answer.status).toBe(408);
    expect(parseJson(answer)).toMatchObject({ code: "timeout", pushed: true, changed: true });
  }, 60_000);

  test("positive controls: each canary was really in play, and the scanner finds it", async () => {
    // The fake provider's key reached the fake LLM, as its Authorization header and only there.
    const chats = llm.requests.filter((r) => r.path.endsWith("/chat/completions"));
    expect(chats.length).toBeGreaterThan(0);
    for (const r of chats) expect(r.headers.authorization).toBe(`Bearer ${C.providerKey.value}`);
    // The git server got GIT_TOKEN as HTTP Basic auth (base64: the scanner must see through it).
    const auth = git.requests.map((r) => r.authorization).find((a) => a !== null);
    expect(auth).toBe(basic(C.gitToken.value));
    expect(scanner.find(auth ?? "")).toEqual(["GIT_TOKEN"]);
    // The credential files opencode reads hold the provider keys (by design: opencode needs them), in the server's own home under DATA_DIR.
    const [authFile, configFile] = [...credentialFiles()];
    expect(scanner.find(readFileSync(authFile as string)).sort()).toEqual(["AUTH_JSON_FAKE_KEY", "AUTH_JSON_SPARE_KEY", "OPENCODE_AUTH_TOKEN"]);
    expect(scanner.find(readFileSync(configFile as string))).toEqual(["CONFIG_JSON_KEY"]);
    // The server's own environment holds every canary; only root may read it (the server is non-dumpable).
    const environ = procEnviron(serverPid);
    if (process.getuid?.() === 0) expect(scanner.find(environ ?? "").sort()).toEqual(CANARIES.map((c) => c.name).sort());
    else expect(environ).toBeNull();
  });

  test("no canary anywhere: answers, events, logs, DATA_DIR, the mirror cache, git objects, opencode's state, what the LLM received", async () => {
    // DATA_DIR while the server runs (the WAL holds the newest rows), then again after it stopped; the
    // two credential files are the positive controls above.
    const credentials = credentialFiles();
    scanner.scanTree("DATA_DIR (running)", dirs.data, (f) => credentials.has(f));
    expect(await server.stop()).toBe(0);
    const logLines = server.lines;
    expect(logLines.some((l) => l.includes('"msg":"run finished"'))).toBe(true);
    for (const [i, line] of logLines.entries()) scanner.scan(`server log line ${i + 1}`, line);
    logLinesScanned = logLines.length;
    countRedactions(logLines.join("\n"));

    // The store, its WAL, and opencode's own state (sessions of the start-up probes, logs, caches).
    expect(scanner.scanTree("DATA_DIR", dirs.data, (f) => credentials.has(f))).toBeGreaterThanOrEqual(2);
    // The sessions kept for follow-ups are gzipped in the store: unpacked, so the scan sees what they hold.
    const db = new Database(path.join(dirs.data, "opencode-server.db"), { readonly: true });
    const kept = db.query("SELECT run_id, data FROM continuations").all() as { run_id: string; data: Uint8Array }[];
    db.close();
    expect(kept.length).toBeGreaterThan(0);
    for (const k of kept) {
      const c = decodeContinuation(k.data);
      for (const f of c.session.files) scanner.scan(`kept session ${k.run_id} ${f.name}`, Buffer.from(f.data));
      // A kept bundle is a compressed pack of the commits whose diff the answer's `patch` shows (scanned above).
    }
    expect(scanner.scanTree("CACHE_DIR", dirs.cache)).toBeGreaterThan(0);
    const mirrors = readdirSync(dirs.cache).filter((n) => n.endsWith(".git"));
    expect(mirrors.length).toBe(2);
    for (const m of mirrors) scanner.scan(`CACHE_DIR/${m} objects`, gitObjects(path.join(dirs.cache, m)));
    // What the agents pushed (their environment dumps among it), as the git host stores it.
    for (const repo of ["app", "locked"]) scanner.scan(`git server ${repo}.git objects`, gitObjects(path.join(git.root, `${repo}.git`)));
    for (const [i, r] of [...git.requests, ...otherGit.requests].entries()) scanner.scan(`git server request ${i + 1}`, `${r.method} ${r.path} ${r.service}`);

    // Each run's opencode state (sessions with every tool output) lived in its own home inside WORK_DIR, gone with the run.
    scanner.scanTree("HOME", dirs.home);
    scanner.scanTree("WORK_DIR", dirs.work);
    expect(await settledDir(dirs.work)).toEqual([]);

    // The real check: everything the fake LLM received, raw and parsed, headers too — except the provider key's own header.
    for (const [i, r] of llm.requests.entries()) {
      const headers = Object.entries(r.headers).filter(([name]) => name !== "authorization");
      scanner.scan(`LLM request ${i + 1} ${r.path}`, `${JSON.stringify(headers)}\n${r.rawBody}\n${JSON.stringify(r.body)}`);
    }

    figure(SUITE, "scenarios run", scenarios);
    figure(SUITE, "places scanned", scanner.places.length);
    figure(SUITE, "bytes scanned", scanner.bytes);
    figure(SUITE, "server log lines", logLinesScanned);
    figure(SUITE, "SSE events", sseEvents);
    figure(SUITE, "LLM requests", llm.requests.length);
    figure(SUITE, "agent processes' environ read mid-run", processesScanned);
    figure(SUITE, "redactions seen", redactions);
    figure(SUITE, "hits", scanner.hits.length);
    // One line per leak (place, secret, spelling) before the full records, so a failure reads at a glance.
    expect(scanner.hits.map((h) => `${h.place}: ${h.canary} (${h.form})`)).toEqual([]);
    // Redaction is defence in depth: had it fired, a secret would have reached an answer or a log.
    expect(redactions).toBe(0);
  }, 60_000);
});

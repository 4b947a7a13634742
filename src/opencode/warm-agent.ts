// One warm agent: `opencode serve` booted in a run's sandbox and workspace before the run exists, used by one run, then destroyed.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { readChunks, TailBuffer } from "../lib/line-reader.ts";
import type { RunNetwork } from "../network/agent-network.ts";
import type { EgressAttempt } from "../network/egress-proxy.ts";
import { killProcessTree, RUN_COOKIE_VAR } from "../proc/process-tree.ts";
import { track, untrack } from "../proc/reaper.ts";
import { createWorkspace, type Workspace } from "../runs/workspace.ts";
import { fillMarks, prepareRunHome } from "./run-home.ts";
import { exitOf, type OpencodeRunnerOptions } from "./runner.ts";
import { ServeClient, type ServeAddress } from "./serve-client.ts";
import { driveWarmRun } from "./warm-run.ts";
import type { AgentInput, AgentOutcome } from "./types.ts";

/** What a run's sandbox is made of (the same as OpencodeRunner's), and where warm workspaces go. */
export interface WarmAgentOptions extends Omit<OpencodeRunnerOptions, "gc"> {
  workDir: string;
  /** `opencode-warm-<replica tag>-`: names this process's warm workspaces (start-up removes its leftovers). */
  prefix: string;
}

/** opencode's server port inside a sandbox with its own network namespace (free there: nothing else listens). */
const INSIDE_SERVE_PORT = 4096;
const BOOT_TIMEOUT_MS = 60_000;
const STDERR_TAIL_CHARS = 64 * 1024;
const SANDBOX_TMP_BYTES = 512 * 1024 * 1024;
/** Unix socket paths are limited to 108 bytes. */
const MAX_SOCKET_PATH = 107;

async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export class WarmAgent {
  readonly bornAt = Date.now();
  private used = false;
  private destroying: Promise<number[]> | undefined;
  /** Where the current run's egress attempts go (the network was opened before the run existed). */
  private onEgress: (a: EgressAttempt) => void = () => {};

  private constructor(
    readonly workspace: Workspace,
    private readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">,
    private readonly wrapped: boolean,
    private readonly cookie: string,
    private readonly client: ServeClient,
    private readonly net: RunNetwork | null,
    private readonly stderr: TailBuffer,
    private readonly opts: WarmAgentOptions,
  ) {}

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null && !this.destroying;
  }

  /** Resolves when the server process ends, for whatever reason. */
  get exited(): Promise<number> {
    return this.proc.exited;
  }

  /** Boots one agent; everything it made is gone again when it fails. */
  static async boot(opts: WarmAgentOptions, signal: AbortSignal): Promise<WarmAgent> {
    const id = randomBytes(6).toString("hex");
    const workspace = createWorkspace(opts.workDir, id, { git: true, root: path.join(opts.workDir, `${opts.prefix}${id}`) });
    const cookieValue = `${path.basename(workspace.root)}`;
    const cookie = `${RUN_COOKIE_VAR}=${cookieValue}`;
    let agent: WarmAgent | null = null;
    let relay: ((a: EgressAttempt) => void) | null = null;
    const net = opts.networks?.open((a) => relay?.(a)) ?? null;
    let proc: Bun.Subprocess<"ignore", "pipe", "pipe"> | null = null;
    try {
      const bridged = net?.sandbox.network === "none";
      const socketDir = path.join(workspace.root, "serve");
      const socket = path.join(socketDir, "s");
      if (bridged) {
        if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) throw new Error(`WORK_DIR is too long for a warm agent's socket path (${socket})`);
        mkdirSync(socketDir, { mode: 0o700 });
      }
      const port = bridged ? INSIDE_SERVE_PORT : await freePort();
      const password = randomBytes(24).toString("hex");
      const access = net ?? { placeholder: "", providerBase: "" };
      const env: Record<string, string> = {};
      for (const [name, value] of Object.entries(opts.baseEnv)) env[name] = fillMarks(value, access);
      Object.assign(env, prepareRunHome(workspace.home, opts.files, access), net?.env, {
        TMPDIR: workspace.tmp,
        [RUN_COOKIE_VAR]: cookieValue,
        // Basic auth on every call: no other local process (another run's agent included) can drive this one.
        OPENCODE_SERVER_PASSWORD: password,
      });
      const argv = [opts.bin, "serve", "--hostname", "127.0.0.1", `--port=${port}`, "--print-logs", "--log-level", "WARN"];
      const command = opts.sandbox.command(net ? net.wrap(argv, bridged ? ["--unix", `${socket}=${port}`] : []) : argv, {
        root: workspace.agentRoot,
        cwd: workspace.dir,
        env,
        hidden: opts.hidden,
        readOnly: [...opts.readOnly, ...(net?.sandbox.readOnly ?? [])],
        binds: [...(net?.sandbox.binds ?? []), ...(bridged ? [{ source: socketDir, writable: true }] : [])],
        network: net?.sandbox.network ?? "host",
        connectPorts: net?.sandbox.connectPorts ?? [],
        tmpSizeBytes: SANDBOX_TMP_BYTES,
      });
      proc = Bun.spawn(command.argv, { cwd: command.cwd, env: command.env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
      track(proc.pid);
      const stderr = new TailBuffer(STDERR_TAIL_CHARS);
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of readChunks(proc.stderr)) stderr.push(decoder.decode(chunk, { stream: true }));
      })();
      await waitListening(proc, signal, stderr);
      const address: ServeAddress = bridged ? { unix: socket } : { port };
      const client = new ServeClient(address, password, workspace.dir);
      // What the first prompt would otherwise load: providers and models, the tools, the agents (~1 s of the cold start).
      await client.call("GET", "/config/providers", undefined, signal);
      await client.call("GET", "/agent", undefined, signal);
      const model = opts.defaultModel?.split("/");
      if (model && model.length >= 2) await client.call("GET", `/experimental/tool?provider=${encodeURIComponent(model[0] as string)}&model=${encodeURIComponent(model.slice(1).join("/"))}`, undefined, signal);
      // What a directory's first prompt would otherwise boot before its model request (~1.1 s measured, 1.18.33):
      // the commands, the tool ids, and the file watcher with opencode's "location services" (a file search boots them).
      for (const route of ["/command", "/experimental/tool/ids", "/find/file?query=a", "/file?path=."]) await client.call("GET", route, undefined, signal);
      agent = new WarmAgent(workspace, proc, command.killsTree, cookie, client, net, stderr, opts);
      const made = agent;
      relay = (a) => made.onEgress(a);
      return agent;
    } finally {
      if (!agent) {
        if (proc) await killProcessTree({ rootPid: proc.pid, cookie });
        if (proc) untrack(proc.pid);
        net?.close();
        await workspace.remove();
      }
    }
  }

  /** Serves exactly one run, then is destroyed (every process gone); the run's pipeline removes the workspace. */
  async run(input: AgentInput, repo: boolean): Promise<AgentOutcome> {
    if (this.used) throw new Error("a warm agent serves one run only");
    this.used = true;
    this.onEgress = (a) => input.onEvent({ type: "egress", ...a });
    return driveWarmRun({
      input,
      repo,
      client: this.client,
      model: input.model ?? this.opts.defaultModel,
      maxOutputBytes: this.opts.maxOutputBytes,
      proc: this.proc,
      stderr: () => this.stderr.value,
      exit: () => exitOf(this.proc, this.wrapped),
      kill: () => this.kill(),
      egress: () => this.net?.egress() ?? [],
    });
  }

  /** Kills the sandbox and every process of it; returns the survivors (should be none). */
  kill(): Promise<number[]> {
    return (this.destroying ??= (async () => {
      await killProcessTree({ rootPid: this.proc.pid, cookie: this.cookie });
      await this.proc.exited;
      untrack(this.proc.pid);
      const survivors = await killProcessTree({ cookie: this.cookie });
      this.net?.close();
      return survivors;
    })());
  }

  /** An agent that never served a run: killed and its workspace removed. */
  async destroy(): Promise<void> {
    await this.kill();
    await this.workspace.remove();
  }
}

/** Waits for opencode's "listening on" line; fails when it exits first or takes too long. */
async function waitListening(proc: Bun.Subprocess<"ignore", "pipe", "pipe">, signal: AbortSignal, stderr: TailBuffer): Promise<void> {
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(BOOT_TIMEOUT_MS)]);
  const reading = (async () => {
    for await (const chunk of readChunks(proc.stdout, deadline)) {
      seen += decoder.decode(chunk, { stream: true });
      if (/listening on http:\/\//.test(seen)) return true;
      if (seen.length > 64 * 1024) seen = seen.slice(-1024);
    }
    return false;
  })();
  const listening = await reading;
  // Its later output is not needed, but the pipe must be read so the server never blocks on it.
  void (async () => {
    for await (const _ of readChunks(proc.stdout)) void _;
  })();
  if (!listening) {
    const why = signal.aborted ? "stopped" : proc.exitCode !== null || proc.signalCode !== null ? `exited (${proc.exitCode ?? proc.signalCode})` : `not listening after ${BOOT_TIMEOUT_MS / 1000} s`;
    throw new Error(`opencode serve ${why}: ${stderr.value.trim().split("\n").slice(-3).join(" ").slice(0, 500)}`);
  }
}

/** Start-up: the warm workspaces a crashed process of this replica left (their sandboxes died with it: --die-with-parent). */
export function removeWarmLeftovers(workDir: string, prefix: string, entries: readonly string[]): number {
  let removed = 0;
  for (const e of entries) {
    if (!e.startsWith(prefix)) continue;
    const p = path.join(workDir, e);
    if (existsSync(p)) rmSync(p, { recursive: true, force: true });
    removed++;
  }
  return removed;
}

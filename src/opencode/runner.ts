// Runs one prompt through `opencode run --format json` in the run's sandbox, streaming its events, and leaves no process behind.
import os from "node:os";
import type { GcPressure } from "../lib/gc-pressure.ts";
import type { Sandbox } from "../sandbox/types.ts";
import { readChunks, readLines, TailBuffer } from "../lib/line-reader.ts";
import { killProcessTree, RUN_COOKIE_VAR } from "../proc/process-tree.ts";
import { track, untrack } from "../proc/reaper.ts";
import { diagnose, EventCollector } from "./events.ts";
import type { AgentNetworks, RunNetwork } from "../network/agent-network.ts";
import { fillMarks, furnishHome, prepareRunHome, type RunFiles } from "./run-home.ts";
import { readSessionFiles, writeSessionFiles } from "./session-files.ts";
import { MAX_CONTINUATION_BYTES, type SessionFiles } from "../runs/continuation.ts";
import { emptyUsage, type AgentInput, type AgentOutcome, type AgentRunner, type FurnishedHome } from "./types.ts";

export interface OpencodeRunnerOptions {
  /** Absolute path of the opencode executable. */
  bin: string;
  /** The allow-listed environment every run starts from (HOME and the XDG directories become the run's own). */
  baseEnv: Record<string, string>;
  /** Contains each run; mode "off" runs the agent as a plain child. */
  sandbox: Sandbox;
  /** What each run's fresh opencode home is made from. */
  files: RunFiles;
  /** Host paths no agent may see (the server's HOME, DATA_DIR, the mirror cache, WORK_DIR). */
  hidden: readonly string[];
  /** Host paths every agent needs read-only beyond the system (the opencode binary's directory). */
  readOnly: readonly string[];
  /** Each run's key proxy and egress (AGENT_NETWORK); null: the host's network and the keys as they are (tests). */
  networks: AgentNetworks | null;
  defaultModel: string | null;
  maxOutputBytes: number;
  /** Shared by all runs: output volume, not heap growth, decides when to collect. */
  gc?: GcPressure;
}

const STDERR_TAIL_CHARS = 256 * 1024;
const LINE_SLACK_BYTES = 64 * 1024;
/** How long pipes may stay open after the agent and its leftovers are gone before we stop reading. */
const PIPE_DRAIN_MS = 2000;
/**
 * A line handled (not skipped) leaves about this many times its length of garbage besides its bytes read: its
 * string, its parse, its event, and that event's JSON twice (its size, its row). Counted, so a flood of kept text
 * is collected as often as its garbage grows (a 10 MiB cap: 6 to 9 MiB of it between two collections, without).
 */
const LINE_GARBAGE = 4;
/** The sandbox's private /tmp and /var/tmp live in memory: capped (TMPDIR itself is on disk, in the run's root). */
const SANDBOX_TMP_BYTES = 512 * 1024 * 1024;

export function opencodeArgs(bin: string, input: Pick<AgentInput, "runId" | "model" | "agent" | "resume">): string[] {
  // `--flag=value` keeps a value that starts with "-" from being read as another flag.
  const args = [bin, "run", "--format", "json", "--print-logs", "--log-level", "WARN", `--title=opencode-server ${input.runId}`];
  if (input.model) args.push(`--model=${input.model}`);
  if (input.agent) args.push(`--agent=${input.agent}`);
  if (input.resume) args.push(`--session=${input.resume.sessionId}`);
  return args;
}

/** The session the agent left in its home (every process of it is gone by now), or why it cannot be kept. */
export function keptSession(home: string, cwd: string, sessionId: string | null): { session: SessionFiles | null; sessionProblem: string | null } {
  if (!sessionId) return { session: null, sessionProblem: null };
  try {
    // No database at all: nothing to continue (an agent that is not opencode, in tests), and nothing to warn about.
    return { session: readSessionFiles(home, cwd, sessionId, MAX_CONTINUATION_BYTES), sessionProblem: null };
  } catch (err) {
    return { session: null, sessionProblem: err instanceof Error ? err.message : String(err) };
  }
}

/** Waits for the readers to finish; past `ms`, stops them (a process that escaped the sweep holds a pipe). */
async function drain(done: Promise<unknown>, stop: AbortController, ms: number): Promise<void> {
  const timer = setTimeout(() => stop.abort(), ms);
  await done;
  clearTimeout(timer);
}

/**
 * Writes the prompt once the run is stored (the agent boots meanwhile), then EOF; a run that could not be stored
 * gets EOF alone — it is being stopped. Never awaited by the run: an agent that exits without reading its stdin
 * leaves a write that fails, and its exit says how it went.
 */
async function givePrompt(stdin: Bun.FileSink, prompt: string, admitted: Promise<boolean> | undefined): Promise<void> {
  try {
    // A prompt larger than the pipe holds makes write() a promise: awaited, so its EPIPE is caught here, not unhandled.
    if (admitted === undefined || (await admitted)) await stdin.write(prompt);
    await stdin.end();
  } catch {
    // The pipe's reader is gone (EPIPE).
  }
}

const SIGNAL_NAMES = new Map(Object.entries(os.constants.signals).map(([name, n]) => [n, name]));

/**
 * How the agent ended. bubblewrap reports a child killed by signal N as its own exit code 128+N
 * (measured: SIGSEGV → 139): that is still a death by signal, not an exit.
 */
export function exitOf(proc: Bun.Subprocess, wrapped: boolean): { exitCode: number | null; signal: string | null } {
  const code = proc.exitCode;
  if (wrapped && code !== null && code > 128 && SIGNAL_NAMES.has(code - 128)) return { exitCode: null, signal: SIGNAL_NAMES.get(code - 128) ?? null };
  const signal = proc.signalCode === null ? null : typeof proc.signalCode === "number" ? `signal ${proc.signalCode}` : proc.signalCode;
  return { exitCode: code, signal };
}

export class OpencodeRunner implements AgentRunner {
  constructor(private readonly opts: OpencodeRunnerOptions) {}

  /** With a key proxy, the run's own files too, for a placeholder handed out now (registered when a run opens it). */
  async furnish(home: string): Promise<FurnishedHome | null> {
    const access = this.opts.networks?.ahead() ?? null;
    await furnishHome(home, this.opts.files, access);
    return access ? { token: access.token, placeholder: access.placeholder } : null;
  }

  /** The agent's command in its sandbox, wired to this run's network. */
  private spawn(input: AgentInput, model: string | null, net: RunNetwork | null): { proc: Bun.Subprocess<"pipe", "pipe", "pipe">; wrapped: boolean } {
    const access = net ?? { placeholder: "", providerBase: "" };
    // Provider key variables hold the placeholder mark (see provider-keys.ts): this run's placeholder replaces it.
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(this.opts.baseEnv)) env[name] = fillMarks(value, access);
    // A home furnished ahead holds this run's files only if the network opened with its placeholder.
    const furnished = net !== null && input.furnished?.placeholder === net.placeholder;
    Object.assign(env, prepareRunHome(input.home, this.opts.files, access, furnished), net?.env, { TMPDIR: input.tmpDir, [RUN_COOKIE_VAR]: input.runId });
    if (input.resume) writeSessionFiles(input.home, input.resume);
    const argv = opencodeArgs(this.opts.bin, { ...input, model });
    const command = this.opts.sandbox.command(net ? net.wrap(argv) : argv, {
      root: input.root,
      cwd: input.cwd,
      env,
      hidden: this.opts.hidden,
      readOnly: [...this.opts.readOnly, ...(input.readOnly ?? []), ...(net?.sandbox.readOnly ?? [])],
      binds: net?.sandbox.binds ?? [],
      network: net?.sandbox.network ?? "host",
      connectPorts: net?.sandbox.connectPorts ?? [],
      tmpSizeBytes: SANDBOX_TMP_BYTES,
    });
    const proc = Bun.spawn(command.argv, {
      cwd: command.cwd,
      env: command.env,
      // The prompt goes through stdin, closed after it (givePrompt): opencode waits for EOF.
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      // Own session and process group, so the agent is never part of ours.
      detached: true,
    });
    return { proc, wrapped: command.killsTree };
  }

  async run(input: AgentInput): Promise<AgentOutcome> {
    const net = this.opts.networks?.open((a) => input.onEvent({ type: "egress", ...a }), input.furnished?.token) ?? null;
    try {
      return await this.runIn(input, net);
    } finally {
      net?.close();
    }
  }

  private async runIn(input: AgentInput, net: RunNetwork | null): Promise<AgentOutcome> {
    const model = input.model ?? this.opts.defaultModel;
    const collector = new EventCollector(this.opts.maxOutputBytes, input.onEvent);
    const stderr = new TailBuffer(STDERR_TAIL_CHARS);
    const cookie = `${RUN_COOKIE_VAR}=${input.runId}`;
    const outcome = (exitCode: number | null, error: string | null, survivors: number[]): AgentOutcome => ({
      exitCode,
      aborted: input.signal.aborted,
      ...collector.summary(),
      error,
      survivors,
      egress: net?.egress() ?? [],
    });
    if (input.signal.aborted) return { ...outcome(null, null, []), usage: emptyUsage() };

    let proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
    let wrapped = false;
    try {
      ({ proc, wrapped } = this.spawn(input, model, net));
    } catch (err) {
      return outcome(null, `cannot start opencode (${this.opts.bin}): ${err instanceof Error ? err.message : String(err)}`, []);
    }
    track(proc.pid);

    let killing: Promise<number[]> | undefined;
    const kill = () => (killing ??= killProcessTree({ rootPid: proc.pid, cookie }));
    input.signal.addEventListener("abort", kill, { once: true });

    void givePrompt(proc.stdin, input.prompt, input.admitted);
    const stopReading = new AbortController();
    // What this run put on the collector's account: only a run that read a lot collects at its end.
    let pressure = 0;
    const press = (bytes: number) => {
      pressure += bytes;
      this.opts.gc?.add(bytes);
    };
    const stdoutDone = (async () => {
      for await (const item of readLines(proc.stdout, this.opts.maxOutputBytes + LINE_SLACK_BYTES, {
        stop: stopReading.signal,
        skip: (head) => collector.ignores(head),
        onChunk: press,
      })) {
        if ("line" in item) {
          collector.handleLine(item.line);
          press(item.line.length * LINE_GARBAGE);
        } else collector.handleOversized();
      }
    })();
    const stderrDone = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of readChunks(proc.stderr, stopReading.signal)) {
        press(chunk.length);
        stderr.push(decoder.decode(chunk, { stream: true }));
      }
    })();

    try {
      await proc.exited;
    } finally {
      untrack(proc.pid);
      input.signal.removeEventListener("abort", kill);
    }
    // Whatever the agent left running (a `nohup … &`, a tool killed mid-way) goes now; this also
    // closes any pipe a leftover inherited, so the reads below can finish.
    if (killing) await killing;
    const survivors = await killProcessTree({ cookie });
    await drain(Promise.allSettled([stdoutDone, stderrDone]), stopReading, PIPE_DRAIN_MS);

    // The output is built once and what it was made of goes. The garbage a flood of lines left goes first:
    // joining holds the parts and the output at once, and that moment is a flooded run's peak.
    this.opts.gc?.settle(pressure);
    const { output } = collector.finish();
    press(output.length);
    this.opts.gc?.settle(pressure);
    const { exitCode, signal } = exitOf(proc, wrapped);
    const failed = !input.signal.aborted && exitCode !== 0;
    return { ...outcome(exitCode, failed ? diagnose(collector.errorEvents, stderr.value, exitCode, signal) : null, survivors), ...keptSession(input.home, input.cwd, collector.summary().sessionId) };
  }
}

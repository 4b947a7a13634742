// Drives one run through a warm agent's server API as `opencode run` would, and ends with every process of the agent gone.
import type { EgressSummary } from "../runs/model.ts";
import { diagnose, EventCollector } from "./events.ts";
import { keptSession } from "./runner.ts";
import { ServeError, type ServeClient } from "./serve-client.ts";
import { modelOf, RUN_SESSION_PERMISSIONS, ServeEventMapper } from "./serve-events.ts";
import { type AgentInput, type AgentOutcome } from "./types.ts";

export interface WarmRunParts {
  input: AgentInput;
  /** A repository was cloned into the booted directory: opencode must boot it again to see the git project. */
  repo: boolean;
  client: ServeClient;
  model: string | null;
  maxOutputBytes: number;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  stderr: () => string;
  exit: () => { exitCode: number | null; signal: string | null };
  /** Kills the sandbox and every process of it; the survivors. */
  kill: () => Promise<number[]>;
  egress: () => EgressSummary[];
}

/** How long the event stream may trail the prompt's answer before the session's `idle` is given up on. */
const IDLE_GRACE_MS = 10_000;
const EXIT_GRACE_MS = 1000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `opencode run --agent X` falls back to the default agent when X is unknown or a sub-agent: so does this. */
async function primaryAgent(client: ServeClient, name: string | null, signal: AbortSignal): Promise<string | undefined> {
  if (!name) return undefined;
  const list = await client.call("GET", "/agent", undefined, signal);
  const found = Array.isArray(list) ? list.find((a): a is Record<string, unknown> => isRecord(a) && a.name === name) : undefined;
  return found && found.mode !== "subagent" ? name : undefined;
}

/**
 * The exit code of a warm run is the one `opencode run` would have exited with: 0 when the prompt
 * ended with the session idle and no error, 1 when opencode reported an error (a session error or a
 * refused prompt); when the server process itself died, its own exit (null: killed by a signal).
 */
export async function driveWarmRun(p: WarmRunParts): Promise<AgentOutcome> {
  const { input, client } = p;
  const collector = new EventCollector(p.maxOutputBytes, input.onEvent);
  const stop = new AbortController();
  const signal = AbortSignal.any([input.signal, stop.signal]);
  // The whole sandbox goes at once when the run is stopped (timeout, cancel, shutdown) or the server dies.
  const killOnAbort = () => void p.kill();
  input.signal.addEventListener("abort", killOnAbort, { once: true });
  const ended = p.proc.exited.then(() => stop.abort());
  let exitCode: number | null = null;
  let error: string | null = null;
  try {
    // Not stored: the run is being stopped, and the check below ends it.
    if (input.admitted) await input.admitted;
    if (input.signal.aborted) throw input.signal.reason;
    if (p.repo) await client.disposeInstance();
    const session = await client.createSession(`opencode-server ${input.runId}`, RUN_SESSION_PERMISSIONS);
    const mapper = new ServeEventMapper(session.id, (line) => collector.handleLine(JSON.stringify(line)));
    let idle: () => void = () => {};
    const becameIdle = new Promise<void>((resolve) => (idle = resolve));
    const events = await client.subscribe(signal);
    // Ends at the session's idle status, or when the stream ends or breaks (the prompt's answer says how it went).
    const loop = (async () => {
      try {
        for await (const event of events) {
          const mapped = mapper.handle(event);
          if (mapped.reject) await client.replyPermission(mapped.reject, "reject").catch(() => {});
          if (mapped.idle) break;
        }
      } finally {
        idle();
      }
    })().catch(() => {});
    const agent = await primaryAgent(client, input.agent, signal);
    const model = modelOf(p.model);
    try {
      await client.prompt(session.id, { ...(agent ? { agent } : {}), ...(model ? { model } : {}), parts: [{ type: "text", text: input.prompt }] }, signal);
      let grace: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([becameIdle, new Promise<void>((resolve) => (grace = setTimeout(resolve, IDLE_GRACE_MS)))]);
      clearTimeout(grace);
      exitCode = mapper.failed ? 1 : 0;
    } catch (err) {
      if (!(err instanceof ServeError) || err.status === null) throw err;
      // opencode refused the prompt (an unknown model, say): `opencode run` prints it as an error line and exits 1.
      mapper.emit("error", { error: err.body ?? { name: "UnknownError", data: { message: err.message } } });
      exitCode = 1;
    }
    stop.abort();
    await loop;
  } catch (err) {
    if (!input.signal.aborted) {
      // A broken connection may be the first sign of a dead server: give its exit a moment to be seen.
      let wait: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([p.proc.exited, new Promise<void>((resolve) => (wait = setTimeout(resolve, EXIT_GRACE_MS)))]);
      clearTimeout(wait);
      const died = p.proc.exitCode !== null || p.proc.signalCode !== null;
      if (died) {
        const e = p.exit();
        exitCode = e.exitCode;
        error = diagnose(collector.errorEvents, p.stderr(), e.exitCode, e.signal);
      } else {
        exitCode = 1;
        error = err instanceof Error ? err.message : String(err);
      }
    }
  } finally {
    input.signal.removeEventListener("abort", killOnAbort);
  }
  const survivors = await p.kill();
  await ended;
  const summary = collector.summary();
  if (!input.signal.aborted && exitCode !== 0 && error === null) error = diagnose(collector.errorEvents, p.stderr(), exitCode, null);
  const aborted = input.signal.aborted;
  if (aborted) exitCode = null;
  // As with `opencode run`, the session is the one its event lines named (none when it was stopped before the first).
  const kept = keptSession(input.home, input.cwd, summary.sessionId);
  return {
    exitCode,
    aborted,
    ...summary,
    error,
    survivors,
    egress: p.egress(),
    ...kept,
  };
}

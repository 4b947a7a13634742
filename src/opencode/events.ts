// Turns `opencode run --format json` lines into progress events and the run's summary (output, usage, tools).
import { KeptText } from "./kept-text.ts";
import { emptyUsage, type AgentEvent, type ToolCall, type Usage } from "./types.ts";

/** One error reported by opencode itself, as an `error` event on stdout. */
export interface OpencodeError {
  name: string;
  message: string;
  statusCode: number | null;
  ref: string | null;
}

const TOOL_TEXT_LIMIT = 4000;
const MAX_ERRORS = 100;

/**
 * How opencode words a tool call its permissions refused (opencode's PermissionRejectedError,
 * PermissionCorrectedError and PermissionDeniedError): an `ask` that `opencode run` auto-rejects, and a `deny` rule.
 */
const PERMISSION_REFUSALS = ["The user rejected permission to use this specific tool call", "The user has specified a rule which prevents you from using this specific tool call"];

export function isPermissionRefusal(error: string | null): boolean {
  return error !== null && PERMISSION_REFUSALS.some((p) => error.startsWith(p));
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

/** A finished tool call's state.time is {start, end} in epoch milliseconds; anything else: unknown. */
function durationOf(time: Json): number | null {
  const { start, end } = time;
  return typeof start === "number" && typeof end === "number" && end >= start ? end - start : null;
}

function clip(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit)}… [${text.length - limit} more characters]` : text;
}

function clipOrNull(text: string | null): string | null {
  return text === null ? null : clip(text, TOOL_TEXT_LIMIT);
}

function clipJson(value: unknown): unknown {
  const text = JSON.stringify(value) ?? "";
  return text.length > TOOL_TEXT_LIMIT ? clip(text, TOOL_TEXT_LIMIT) : value;
}

export class EventCollector {
  private readonly text: KeptText;
  private readonly usage: Usage = emptyUsage();
  private readonly tools: ToolCall[] = [];
  private readonly errors: OpencodeError[] = [];
  private sessionId: string | null = null;
  private unparsed = 0;
  private textSeq = 0;
  /** Model turns so far (step_finish events). */
  private steps = 0;

  constructor(
    maxOutputBytes: number,
    private readonly emit: (event: AgentEvent) => void,
  ) {
    this.text = new KeptText(maxOutputBytes);
  }

  /** Handles one stdout line; anything that is not an opencode JSON event is counted and ignored. */
  handleLine(line: string): void {
    if (line.trim() === "") return;
    let event: Json;
    try {
      event = obj(JSON.parse(line));
    } catch {
      this.unparsed++;
      return;
    }
    const session = str(event.sessionID);
    if (session && !this.sessionId) this.sessionId = session;
    const part = obj(event.part);
    switch (event.type) {
      case "step_start":
        this.emit({ type: "step", session_id: this.sessionId });
        break;
      case "text":
        this.addText(str(part.id) ?? `text-${++this.textSeq}`, str(part.text) ?? "");
        break;
      case "tool_use":
        this.addTool(part);
        break;
      case "step_finish":
        this.addUsage(part);
        break;
      case "error":
        this.addError(obj(event.error));
        break;
      default:
        break;
    }
  }

  /**
   * True for a line that cannot change the result, judged by its head: text once the output is
   * full. opencode writes `{"type":"…"` first.
   */
  ignores(head: string): boolean {
    return this.text.full && head.startsWith('{"type":"text"');
  }

  /** A stdout line too long to keep: it cannot be parsed, so the output is marked truncated. */
  handleOversized(): void {
    this.text.markCut();
  }

  private addText(id: string, text: string): void {
    const kept = this.text.add(id, text);
    if (kept !== "") this.emit({ type: "text", text: kept });
  }

  private addTool(part: Json): void {
    const state = obj(part.state);
    const status = str(state.status) ?? "unknown";
    const error = status === "error" ? clip(str(state.error) ?? "unknown error", TOOL_TEXT_LIMIT) : null;
    // Every field is clipped: a tool's line may be as long as the output cap, and the answer keeps every call.
    const call: ToolCall = { tool: clip(str(part.tool) ?? "unknown", TOOL_TEXT_LIMIT), status: clip(status, TOOL_TEXT_LIMIT), title: clipOrNull(str(state.title)), error, denied: isPermissionRefusal(error) };
    this.tools.push(call);
    const output = str(state.output) ?? str(state.error);
    this.emit({ type: "tool", ...call, input: clipJson(state.input ?? null), output: output === null ? null : clip(output, TOOL_TEXT_LIMIT), duration_ms: durationOf(obj(state.time)) });
  }

  private addUsage(part: Json): void {
    const tokens = obj(part.tokens);
    const cache = obj(tokens.cache);
    const step: Usage = {
      input_tokens: num(tokens.input),
      output_tokens: num(tokens.output),
      reasoning_tokens: num(tokens.reasoning),
      cache_read_tokens: num(cache.read),
      cache_write_tokens: num(cache.write),
      cost: num(part.cost),
    };
    for (const key of Object.keys(step) as (keyof Usage)[]) this.usage[key] += step[key];
    this.steps++;
    this.emit({ type: "usage", step, total: { ...this.usage }, steps: this.steps, reason: clipOrNull(str(part.reason)) });
  }

  private addError(error: Json): void {
    const data = obj(error.data);
    const e: OpencodeError = {
      name: clip(str(error.name) ?? "Error", TOOL_TEXT_LIMIT),
      message: clip(str(data.message) ?? str(error.message) ?? "unknown error", TOOL_TEXT_LIMIT),
      statusCode: typeof data.statusCode === "number" ? data.statusCode : null,
      ref: clipOrNull(str(data.ref)),
    };
    this.errors.push(e);
    // Only the last ones explain a failure (diagnose); a flood of error events must not pile up.
    if (this.errors.length > MAX_ERRORS) this.errors.shift();
    this.emit({ type: "error", name: e.name, message: e.message });
  }

  get errorEvents(): readonly OpencodeError[] {
    return this.errors;
  }

  get unparsedLines(): number {
    return this.unparsed;
  }

  /** The run's summary so far. */
  summary() {
    return this.summaryOf(this.text.output());
  }

  /** The summary once the agent is done: the output it holds is then the only copy of the text kept. */
  finish() {
    return this.summaryOf(this.text.compact());
  }

  private summaryOf({ output, truncated }: { output: string; truncated: boolean }) {
    return {
      output,
      outputTruncated: truncated,
      usage: { ...this.usage },
      sessionId: this.sessionId,
      tools: [...this.tools],
    };
  }
}

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Reads a `key="quoted value"` field out of one opencode log line. */
function logField(line: string, key: string): string | null {
  const m = new RegExp(`(?:^|\\s)${key.replace(/\./g, "\\.")}=("(?:[^"\\\\]|\\\\.)*"|\\S+)`).exec(line);
  if (!m) return null;
  const raw = m[1] as string;
  if (!raw.startsWith('"')) return raw;
  try {
    return JSON.parse(raw) as string;
  } catch {
    return raw.slice(1, -1);
  }
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? "").trim();
}

/** A crash report's telling line: runtimes lead with "panic", "fatal", "Segmentation fault", … */
const CRASH_WORDS = /panic|fatal|error|fault|abort|killed|out of memory|exception/i;

/**
 * Explains in one sentence why opencode failed, from its error events and the tail of its
 * `--print-logs` stderr: opencode often reports only "UnknownError" with a `ref` whose cause is
 * written to the log. `signal` names the signal that killed it, when one did.
 */
export function diagnose(errors: readonly OpencodeError[], stderr: string, exitCode: number | null, signal: string | null = null): string {
  const logLines = stderr.replace(ANSI, "").split("\n");
  const last = errors.at(-1);
  if (last) {
    if (last.ref) {
      const line = logLines.find((l) => l.includes(`ref=${last.ref}`));
      const cause = line ? logField(line, "error") : null;
      if (cause) return firstLine(cause);
    }
    const status = last.statusCode !== null ? ` (HTTP ${last.statusCode})` : "";
    return `${last.name}: ${last.message}${status}`;
  }
  const plain = logLines.map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("timestamp="));
  const errorAt = plain.findIndex((l) => l.startsWith("Error:"));
  if (errorAt !== -1) return clip(plain.slice(errorAt, errorAt + 3).join(" "), 1000);
  const errorLog = logLines.filter((l) => l.includes("level=ERROR")).at(-1);
  if (errorLog) {
    const detail = logField(errorLog, "error") ?? logField(errorLog, "error.error") ?? logField(errorLog, "message");
    if (detail) return firstLine(detail);
  }
  const death = exitCode === null ? `opencode was killed by ${signal ?? "a signal"}` : `opencode exited with code ${exitCode}`;
  // A crash (a runtime panic, a segfault report) prints no log line: its own words are all there is.
  const words = plain.findLast((l) => CRASH_WORDS.test(l)) ?? plain.at(-1);
  return words ? `${death}: ${clip(words, 500)}` : death;
}

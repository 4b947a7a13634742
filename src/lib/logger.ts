// One JSON object per line on stdout, levels filtered once, every line passed through the redactor.
import type { Redactor } from "./redact.ts";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  /** True when lines at `level` are written: lets a caller skip building fields nobody reads. */
  enabled(level: LogLevel): boolean;
}

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => {
  process.stdout.write(line + "\n");
};

function errorFields(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export function createLogger(opts: { level: LogLevel; redactor: Redactor; sink?: LogSink; base?: LogFields }): Logger {
  const min = LOG_LEVELS.indexOf(opts.level);
  const sink = opts.sink ?? stdoutSink;
  const base = opts.base ?? {};
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const record: LogFields = { time: new Date().toISOString(), level, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) record[k] = errorFields(v);
    let line: string;
    try {
      // Redact values before encoding: JSON escaping would hide a secret containing quotes or backslashes.
      line = JSON.stringify(opts.redactor.redactDeep(record));
    } catch {
      line = JSON.stringify({ time: record.time, level, msg: opts.redactor.redact(msg), log_error: "unserialisable fields" });
    }
    sink(line);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger({ ...opts, base: { ...base, ...fields } }),
    enabled: (level) => LOG_LEVELS.indexOf(level) >= min,
  };
}

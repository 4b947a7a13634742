// The environment's shape in one schema, so every variable is checked and defaulted the same way and the first bad one is named.
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { SERVER_SECRET_VARS } from "./agent-env.ts";
import { DEFAULTS } from "./config-env-docs.ts";
import { parseDuration } from "./lib/duration.ts";
import { LOG_LEVELS, type LogLevel } from "./lib/logger.ts";
import { MODEL_MAX_LENGTH, MODEL_PATTERN } from "./opencode/names.ts";
import { parsePattern, type HostPattern } from "./network/allow-list.ts";
import type { NetworkMode } from "./network/agent-network.ts";
import type { SandboxRequest } from "./sandbox/types.ts";
import { DELIVERY_ENV } from "./config-schema-delivery.ts";
import { optionalText, positive, withDefault } from "./config-fields.ts";

const NETWORK_MODES = ["open", "proxy", "none"] as const;

const SANDBOX_MODES = ["auto", "bwrap", "landlock", "off"] as const;

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

function parseSize(text: string): number | null {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = SIZE_UNITS[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined) return null;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : null;
}



function jsonObject(expected: string) {
  return optionalText.transform((raw, ctx) => {
    if (raw === undefined) return null;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      // The parser's message quotes the offending text, which may be a secret: say only what is wrong.
      ctx.addIssue({ code: "custom", message: `is not valid JSON (expected ${expected})` });
      return z.NEVER;
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      ctx.addIssue({ code: "custom", message: `must be a JSON object (${expected})` });
      return z.NEVER;
    }
    return value as Record<string, unknown>;
  });
}

export const EnvSchema = z.object({
  PORT: withDefault((v) => (/^\d+$/.test(v) && Number(v) <= 65535 ? Number(v) : null), DEFAULTS.PORT, "must be a port number between 0 and 65535"),
  HOST: optionalText,
  API_KEY: optionalText.transform((v) =>
    (v ?? "")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean),
  ),
  API_KEYS_FILE: optionalText,
  MAX_EXECUTION_TIME: withDefault((v) => positive(parseDuration(v)), DEFAULTS.MAX_EXECUTION_TIME, "must be a positive Go duration such as 300s, 5m or 1m30s"),
  MAX_REQUEST_SIZE: withDefault((v) => positive(parseSize(v)), DEFAULTS.MAX_REQUEST_SIZE, "must be a positive number of bytes (suffixes K, M, G allowed)"),
  MAX_OUTPUT_SIZE: withDefault((v) => positive(parseSize(v)), DEFAULTS.MAX_OUTPUT_SIZE, "must be a positive number of bytes (suffixes K, M, G allowed)"),
  SHUTDOWN_TIMEOUT: withDefault((v) => nonNegative(parseDuration(v)), DEFAULTS.SHUTDOWN_TIMEOUT, "must be a Go duration such as 8s or 1m"),
  LOG_LEVEL: withDefault((v) => (LOG_LEVELS as readonly string[]).includes(v.toLowerCase()) ? (v.toLowerCase() as LogLevel) : null, DEFAULTS.LOG_LEVEL, `must be one of ${LOG_LEVELS.join(", ")}`),
  WORK_DIR: withDefault((v) => (path.isAbsolute(v) ? path.resolve(v) : null), os.tmpdir(), "must be an absolute path"),
  OPENCODE_BIN: optionalText.transform((v) => v ?? DEFAULTS.OPENCODE_BIN),
  OPENCODE_MODEL: optionalText.refine((v) => v === undefined || (v.length <= MODEL_MAX_LENGTH && MODEL_PATTERN.test(v)), "must look like provider/model"),
  OPENCODE_AUTH_TOKEN: optionalText,
  OPENCODE_AUTH_JSON: jsonObject('{"provider": {"type": "api", "key": "..."}}'),
  OPENCODE_CONFIG_JSON: jsonObject("an opencode config object"),
  OPENCODE_AUTH_FILE: optionalText.refine((v) => v === undefined || path.isAbsolute(v), "must be an absolute path"),
  DATA_DIR: optionalText.refine((v) => v === undefined || path.isAbsolute(v), "must be an absolute path"),
  ALLOWED_REPO_PREFIXES: optionalText.transform((v, ctx) => {
    const list = (v ?? DEFAULTS.ALLOWED_REPO_PREFIXES).split(",").map((p) => p.trim()).filter(Boolean);
    for (const entry of list) {
      const problem = prefixProblem(entry);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }
    return list;
  }),
  GITHUB_TOKEN: optionalText,
  GIT_TOKEN: optionalText,
  GIT_TOKEN_USERNAME: optionalText.transform((v) => v ?? DEFAULTS.GIT_TOKEN_USERNAME),
  GIT_AUTHOR_NAME: optionalText.transform((v) => v ?? DEFAULTS.GIT_AUTHOR_NAME),
  GIT_AUTHOR_EMAIL: optionalText.transform((v) => v ?? DEFAULTS.GIT_AUTHOR_EMAIL),
  GIT_CLONE_DEPTH: withDefault((v) => (/^\d+$/.test(v) ? Number(v) : null), DEFAULTS.GIT_CLONE_DEPTH, "must be a whole number of commits (0 = full history)"),
  GIT_TIMEOUT: withDefault((v) => positive(parseDuration(v)), DEFAULTS.GIT_TIMEOUT, "must be a positive Go duration such as 120s"),
  GIT_BIN: optionalText.transform((v) => v ?? DEFAULTS.GIT_BIN),
  MAX_CONCURRENT_RUNS: withDefault((v) => (/^\d+$/.test(v) && Number(v) >= 1 ? Number(v) : null), DEFAULTS.MAX_CONCURRENT_RUNS, "must be a whole number of at least 1"),
  MAX_QUEUED_RUNS: withDefault((v) => (/^\d+$/.test(v) ? Number(v) : null), DEFAULTS.MAX_QUEUED_RUNS, "must be a whole number (0 = no queue)"),
  MAX_RUN_COST_USD: optionalText.transform((v, ctx) => optionalCap(v, ctx, (n) => n > 0, "must be a positive number of US dollars, e.g. 0.50")),
  MAX_RUN_TOKENS: optionalText.transform((v, ctx) => optionalCap(v, ctx, (n) => Number.isSafeInteger(n) && n >= 1, "must be a whole number of tokens of at least 1")),
  MAX_RUN_STEPS: optionalText.transform((v, ctx) => optionalCap(v, ctx, (n) => Number.isSafeInteger(n) && n >= 1, "must be a whole number of steps of at least 1")),
  IDLE_TIMEOUT: withDefault((v) => nonNegative(parseDuration(v)), DEFAULTS.IDLE_TIMEOUT, "must be a Go duration such as 10m (0 = off)"),
  RUN_RETENTION: withDefault((v) => positive(parseDuration(v)), DEFAULTS.RUN_RETENTION, "must be a positive duration such as 7d or 72h"),
  REPO_CACHE: withDefault((v) => bool(v), DEFAULTS.REPO_CACHE, "must be true or false"),
  CACHE_DIR: optionalText.refine((v) => v === undefined || path.isAbsolute(v), "must be an absolute path"),
  CACHE_MAX_BYTES: withDefault((v) => positive(parseSize(v)), DEFAULTS.CACHE_MAX_BYTES, "must be a positive size (suffixes K, M, G allowed)"),
  REPO_SPARES: withDefault((v) => (/^\d+$/.test(v) && Number(v) <= 16 ? Number(v) : null), DEFAULTS.REPO_SPARES, "must be a whole number from 0 to 16 (0 = off)"),
  SANDBOX: withDefault((v) => ((SANDBOX_MODES as readonly string[]).includes(v.toLowerCase()) ? (v.toLowerCase() as SandboxRequest) : null), DEFAULTS.SANDBOX, `must be one of ${SANDBOX_MODES.join(", ")}`),
  SANDBOX_READ_PATHS: optionalText.transform((v, ctx) => {
    const list = (v ?? "").split(",").map((p) => p.trim()).filter(Boolean);
    for (const p of list) if (!path.isAbsolute(p)) ctx.addIssue({ code: "custom", message: `"${p}" must be an absolute path` });
    return list.map((p) => path.resolve(p));
  }),
  WARM_AGENTS: withDefault((v) => (/^\d+$/.test(v) && Number(v) <= 64 ? Number(v) : null), DEFAULTS.WARM_AGENTS, "must be a whole number from 0 to 64 (0 = off)"),
  WARM_AGENT_MAX_IDLE: withDefault((v) => positive(parseDuration(v)), DEFAULTS.WARM_AGENT_MAX_IDLE, "must be a positive Go duration such as 30m"),
  AGENT_NETWORK: withDefault((v) => ((NETWORK_MODES as readonly string[]).includes(v.toLowerCase()) ? (v.toLowerCase() as NetworkMode) : null), DEFAULTS.AGENT_NETWORK, `must be one of ${NETWORK_MODES.join(", ")}`),
  AGENT_ALLOWED_HOSTS: optionalText.transform((v, ctx) => {
    const out: HostPattern[] = [];
    for (const entry of (v ?? "").split(",").map((e) => e.trim()).filter(Boolean)) {
      const pattern = parsePattern(entry);
      if (pattern) out.push(pattern);
      else ctx.addIssue({ code: "custom", message: `"${entry}" is not a host, *.domain or IP with an optional :port` });
    }
    return out;
  }),
  DATABASE_URL: optionalText.transform((v, ctx) => {
    if (v === undefined) return null;
    const problem = databaseUrlProblem(v);
    if (problem) {
      ctx.addIssue({ code: "custom", message: problem });
      return z.NEVER;
    }
    return v;
  }),
  DATABASE_CONNECT_TIMEOUT: withDefault((v) => positive(parseDuration(v)), DEFAULTS.DATABASE_CONNECT_TIMEOUT, "must be a positive Go duration such as 30s"),
  REPLICA_ID: optionalText.refine((v) => v === undefined || /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(v), "must be 1-63 letters, digits, dots, dashes or underscores").transform((v) => v ?? os.hostname()),
  LEASE_TIMEOUT: withDefault((v) => { const ms = parseDuration(v); return ms !== null && ms >= 3000 ? ms : null; }, DEFAULTS.LEASE_TIMEOUT, "must be a Go duration of at least 3s"),
  METRICS_PUBLIC: withDefault((v) => bool(v), DEFAULTS.METRICS_PUBLIC, "must be true or false"),
  KEEP_SESSIONS: withDefault((v) => bool(v), DEFAULTS.KEEP_SESSIONS, "must be true or false"),
  DOCS_PUBLIC: withDefault((v) => bool(v), DEFAULTS.DOCS_PUBLIC, "must be true or false"),
  DASHBOARD: withDefault((v) => bool(v), DEFAULTS.DASHBOARD, "must be true or false"),
  ...DELIVERY_ENV,
  AGENT_ENV_PASSTHROUGH: optionalText.transform((v, ctx) => {
    const names = (v ?? "").split(",").map((n) => n.trim()).filter(Boolean);
    for (const n of names) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) ctx.addIssue({ code: "custom", message: `"${n}" is not a variable name` });
      else if (SERVER_SECRET_VARS.includes(n)) ctx.addIssue({ code: "custom", message: `${n} is a server secret and is never passed to the agent` });
    }
    return names;
  }),
});

function prefixProblem(entry: string): string | null {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return `"${entry}" is not a URL prefix such as https://github.com/my-org/`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return `"${entry}" must start with https:// (or http:// for a host you trust)`;
  if (url.username || url.password || url.search || url.hash) return `"${entry}" must not contain credentials, a query or a fragment`;
  return null;
}

/** What is wrong with a DATABASE_URL, without ever quoting it (it carries a password). */
function databaseUrlProblem(v: string): string | null {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return "is not a URL (expected postgres://user:password@host:5432/database)";
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") return "must start with postgres:// or postgresql://";
  if (!url.hostname) return "names no host (expected postgres://user:password@host:5432/database)";
  return null;
}

/** An optional numeric cap: unset is null (no cap). */
function optionalCap(v: string | undefined, ctx: z.RefinementCtx, ok: (n: number) => boolean, expected: string): number | null {
  if (v === undefined) return null;
  const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : Number.NaN;
  if (Number.isFinite(n) && ok(n)) return n;
  ctx.addIssue({ code: "custom", message: expected });
  return z.NEVER;
}

function bool(v: string): boolean | null {
  const lower = v.toLowerCase();
  if (["true", "1", "yes", "on"].includes(lower)) return true;
  if (["false", "0", "no", "off"].includes(lower)) return false;
  return null;
}


function nonNegative(n: number | null): number | null {
  return n !== null && n >= 0 ? n : null;
}

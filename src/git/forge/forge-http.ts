// The one JSON request path of the forge clients: timeouts, bounded retries that honour the forge's limits, scrubbed errors.
import { ForgeError, type ForgeErrorKind } from "./types.ts";

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface ForgeHttpOptions {
  /** Injectable for tests; defaults to the global fetch. */
  fetch?: FetchLike;
  /** Per attempt, headers and body included. Default 30 s. */
  timeoutMs?: number;
  /** Attempts per request, the first included. Default 4. */
  maxAttempts?: number;
  /** A forge-imposed wait longer than this fails at once instead. Default 60 s. */
  maxRetryWaitMs?: number;
  /** First backoff when the forge names no wait; doubles per attempt, ±50 % jitter. Default 500 ms. */
  backoffMs?: number;
  userAgent?: string;
  /** Ends requests and waits between attempts. */
  signal?: AbortSignal;
}

export interface ForgeCall<T> {
  method: "GET" | "POST" | "PUT" | "PATCH";
  /** Below the API URL, starting with "/", segments already encoded. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  /** Checks a success answer (JSON, or null for an empty body); throws when it is not what the forge documents. */
  parse: (json: unknown) => T;
  /**
   * For requests that are not idempotent: after a failure that may have been processed (no answer, timeout, 5xx),
   * looks for what the request would have made; a non-null result is returned instead of sending it again.
   */
  recover?: () => Promise<T | null>;
  /** Which error statuses/messages mean "it already exists" (create). */
  alreadyExists?: (status: number, message: string) => boolean;
}

const MAX_MESSAGE = 500;
// GitHub asks for at least a minute when a secondary rate limit names no time.
const SECONDARY_WAIT_MS = 60_000;

type Outcome<T> = { ok: true; value: T } | { ok: false; error: ForgeError; ambiguous: boolean; waitMs: number | null };

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function texts(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (typeof value === "number" || typeof value === "boolean") return [String(value)];
  if (Array.isArray(value)) return value.flatMap(texts);
  if (value && typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k} ${texts(v).join(", ")}`);
  }
  return [];
}

/** The forge's own words from an error body: GitHub message + errors[], GitLab message (string/array/object) or error, Gitea message. */
export function forgeMessage(text: string): string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Proxies answer with HTML pages: keep their words, not their markup.
    return text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  }
  if (!isRecord(json)) return texts(json).join("; ");
  const parts = texts(json.message);
  if (Array.isArray(json.errors)) {
    for (const e of json.errors) {
      if (isRecord(e)) {
        if (typeof e.message === "string") parts.push(e.message);
        else parts.push([e.resource, e.field, e.code].filter((x) => typeof x === "string").join(" "));
      } else parts.push(...texts(e));
    }
  }
  if (typeof json.error === "string") parts.push(typeof json.error_description === "string" ? `${json.error}: ${json.error_description}` : json.error);
  return parts.filter((p) => p !== "").join("; ");
}

/** A forge-named wait in ms: Retry-After (seconds or HTTP date), else an exhausted x-ratelimit-reset (epoch seconds). */
function namedWait(headers: Headers, now: number): number | null {
  const retryAfter = headers.get("retry-after")?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = headers.get("x-ratelimit-reset")?.trim();
  if (headers.get("x-ratelimit-remaining")?.trim() === "0" && reset && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - now);
  return null;
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export class ForgeHttp {
  private readonly fetchFn: FetchLike;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly maxRetryWaitMs: number;
  private readonly backoffMs: number;
  private readonly headers: Record<string, string>;

  constructor(
    /** Names the forge in messages ("GitHub"). */
    private readonly label: string,
    private readonly apiUrl: string,
    /** Authentication and forge-specific headers. */
    extraHeaders: Record<string, string>,
    private readonly token: string | null,
    private readonly opts: ForgeHttpOptions,
  ) {
    this.fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 4);
    this.maxRetryWaitMs = opts.maxRetryWaitMs ?? 60_000;
    this.backoffMs = opts.backoffMs ?? 500;
    this.headers = { Accept: "application/json", "Content-Type": "application/json", "User-Agent": opts.userAgent ?? "opencode-server", ...extraHeaders };
  }

  /** Replaces every occurrence of the token (raw and URL-encoded) with [REDACTED]. */
  scrub(text: string): string {
    if (!this.token) return text;
    let out = text.replaceAll(this.token, "[REDACTED]");
    const encoded = encodeURIComponent(this.token);
    if (encoded !== this.token) out = out.replaceAll(encoded, "[REDACTED]");
    return out;
  }

  private error(what: string, detail: string, init: { status: number | null; kind: ForgeErrorKind; retryable: boolean; retryAt?: number | null }): ForgeError {
    // Scrub before clipping, so a clip can never leave half a token behind.
    const clipped = this.scrub(detail).slice(0, MAX_MESSAGE);
    return new ForgeError(`${this.label} ${what}: ${clipped}`, init);
  }

  async request<T>(call: ForgeCall<T>): Promise<T> {
    const what = `${call.method} ${call.path}`;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.once(call, what);
      if (outcome.ok) return outcome.value;
      const { error } = outcome;
      if (!error.retryable) throw error;
      if (outcome.ambiguous && call.recover) {
        const found = await call.recover();
        if (found !== null) return found;
      }
      if (attempt >= this.maxAttempts) {
        const gaveUp = `${error.message} (gave up after ${attempt} attempt${attempt === 1 ? "" : "s"})`;
        throw new ForgeError(gaveUp, { status: error.status, kind: error.kind, retryable: true, retryAt: error.retryAt });
      }
      let wait = outcome.waitMs;
      if (wait !== null && wait > this.maxRetryWaitMs) {
        const at = Date.now() + wait;
        throw new ForgeError(`${error.message}; the forge allows the next request at ${new Date(at).toISOString()} (in ${Math.ceil(wait / 1000)} s), later than the ${this.maxRetryWaitMs} ms this client waits`, {
          status: error.status,
          kind: error.kind,
          retryable: true,
          retryAt: at,
        });
      }
      wait ??= Math.min(this.maxRetryWaitMs, this.backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random()));
      if (!(await abortableSleep(wait, this.opts.signal))) {
        throw this.error(what, "aborted while waiting to retry", { status: null, kind: "aborted", retryable: false });
      }
    }
  }

  private async once<T>(call: ForgeCall<T>, what: string): Promise<Outcome<T>> {
    const query = call.query && Object.keys(call.query).length > 0 ? `?${new URLSearchParams(call.query)}` : "";
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const caller = this.opts.signal;
    const onAbort = () => controller.abort();
    if (caller?.aborted) controller.abort();
    caller?.addEventListener("abort", onAbort, { once: true });
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(`${this.apiUrl}${call.path}${query}`, {
        method: call.method,
        headers: this.headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: controller.signal,
        // A redirect could carry the token to another host: refuse it and say where it pointed.
        redirect: "manual",
      });
      text = await res.text();
    } catch (err) {
      if (caller?.aborted) return { ok: false, ambiguous: false, waitMs: null, error: this.error(what, "aborted", { status: null, kind: "aborted", retryable: false }) };
      if (timedOut) {
        return { ok: false, ambiguous: true, waitMs: null, error: this.error(what, `no answer within ${this.timeoutMs} ms`, { status: null, kind: "timeout", retryable: true }) };
      }
      const detail = err instanceof Error ? err.message : String(err);
      return { ok: false, ambiguous: true, waitMs: null, error: this.error(what, `network error: ${detail}`, { status: null, kind: "network", retryable: true }) };
    } finally {
      clearTimeout(timer);
      caller?.removeEventListener("abort", onAbort);
    }
    if (res.status >= 200 && res.status < 300) return this.success(call, what, res.status, text);
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get("location") ?? "nowhere";
      return { ok: false, ambiguous: false, waitMs: null, error: this.error(what, `HTTP ${res.status}: redirected to ${location} (not followed)`, { status: res.status, kind: "http", retryable: false }) };
    }
    const message = forgeMessage(text) || res.statusText || "no message";
    const detail = `HTTP ${res.status}: ${message}`;
    if (call.alreadyExists?.(res.status, message)) {
      return { ok: false, ambiguous: false, waitMs: null, error: this.error(what, detail, { status: res.status, kind: "already_exists", retryable: false }) };
    }
    const now = Date.now();
    const wait = namedWait(res.headers, now);
    const secondary = /secondary rate limit|abuse detection/i.test(message);
    // A 403 is a rate limit only with GitHub's signs of one; otherwise it is a permission error that no retry fixes.
    const limited = res.status === 429 || (res.status === 403 && (secondary || wait !== null));
    if (limited || res.status >= 500) {
      const waitMs = wait ?? (secondary ? SECONDARY_WAIT_MS : null);
      const retryAt = waitMs === null ? null : now + waitMs;
      const kind = limited ? "rate_limited" : "http";
      return { ok: false, ambiguous: !limited, waitMs, error: this.error(what, detail, { status: res.status, kind, retryable: true, retryAt }) };
    }
    return { ok: false, ambiguous: false, waitMs: null, error: this.error(what, detail, { status: res.status, kind: "http", retryable: false }) };
  }

  private success<T>(call: ForgeCall<T>, what: string, status: number, text: string): Outcome<T> {
    let json: unknown = null;
    try {
      if (text.trim() !== "") json = JSON.parse(text);
      return { ok: true, value: call.parse(json) };
    } catch (err) {
      const detail = err instanceof Error ? err.message.replace(/\s+/g, " ") : String(err);
      return { ok: false, ambiguous: false, waitMs: null, error: this.error(what, `HTTP ${status} with an unexpected answer: ${detail}`, { status, kind: "invalid_answer", retryable: false }) };
    }
  }
}

// One webhook delivery attempt: resolve once, refuse internal addresses, connect to exactly the address checked, never follow a redirect, never throw.
import { lookup as systemLookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { addressRefusal, type WebhookTarget } from "./url-policy.ts";

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface SendRequest {
  target: WebhookTarget;
  body: string;
  /** Sent as given, except the framing headers this module owns (Host, Content-Type, Content-Length, Connection, Transfer-Encoding). */
  headers: Record<string, string>;
  /** Covers DNS, connect, and the whole response. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Test-injectable; default node:dns/promises lookup(all: true). */
  lookup?: (hostname: string) => Promise<ResolvedAddress[]>;
  /** The operator's own WEBHOOK_URL: it may be an internal address (no user chose it); still resolved once and pinned. */
  anyAddress?: boolean;
  /** Extra trusted CA certificates (PEM) for https receivers signed by a private CA; the system store is used otherwise. */
  ca?: string | string[];
}

export interface AttemptResult {
  /** HTTP status; null: no answer. */
  status: number | null;
  /** null only for 2xx. */
  error: string | null;
  durationMs: number;
  /** true when no request was sent because the destination was refused (SSRF). */
  refused: boolean;
}

/** Enough to see a receiver answer; callers never look at the body, and an endless one must not be read. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const OWNED_HEADERS = new Set(["host", "content-type", "content-length", "connection", "transfer-encoding"]);
const ABORTED = Symbol("aborted");

async function defaultLookup(hostname: string): Promise<ResolvedAddress[]> {
  const list = await systemLookup(hostname, { all: true });
  return list.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
}

/** `work`, or ABORTED as soon as `signal` fires (a DNS query cannot be cancelled, but nobody has to wait for it). */
async function within<T>(signal: AbortSignal, work: Promise<T>): Promise<T | typeof ABORTED> {
  if (signal.aborted) return ABORTED;
  let onAbort = (): void => {};
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** A `lookup` that answers the checked address whatever is asked, in both callback shapes (Bun asks with all: true). */
function pinned(to: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: to.address, family: to.family }]);
    else callback(null, to.address, to.family);
  };
}

function codeOf(err: unknown): string {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : "";
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function describe(err: unknown, where: string): string {
  const code = codeOf(err);
  if (code === "ECONNREFUSED") return `connection refused by ${where}`;
  if (code === "ECONNRESET") return `connection reset by ${where}`;
  if (code === "ETIMEDOUT") return `connecting to ${where} timed out`;
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return `${where} is unreachable (${code})`;
  const text = messageOf(err);
  return code && !text.includes(code) ? `${code}: ${text} (${where})` : `${text} (${where})`;
}

function verdict(status: number): string | null {
  if (status >= 200 && status < 300) return null;
  if (status >= 300 && status < 400) return `redirects are not followed (status ${status})`;
  return `status ${status}`;
}

function headersFor(req: SendRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (!OWNED_HEADERS.has(name.toLowerCase())) out[name] = value;
  out["Content-Type"] = "application/json";
  out["Content-Length"] = String(Buffer.byteLength(req.body, "utf8"));
  // One request per connection: nothing stays pooled after the attempt.
  out.Connection = "close";
  return out;
}

/** Resolves once and checks every answer: the address to connect to, or why there is none. */
async function destination(req: SendRequest, hostname: string): Promise<ResolvedAddress | { refusal: string } | { failure: string }> {
  const family = isIP(hostname);
  let addresses: ResolvedAddress[];
  if (family !== 0) addresses = [{ address: hostname, family: family === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await (req.lookup ?? defaultLookup)(hostname);
    } catch (err) {
      return { failure: `cannot resolve ${hostname}: ${codeOf(err) || messageOf(err)}` };
    }
  }
  const first = addresses[0];
  if (first === undefined) return { failure: `${hostname} resolved to no address` };
  // One internal answer among public ones is enough: the next resolution could hand out that one.
  for (const a of req.anyAddress ? [] : addresses) {
    const refusal = addressRefusal(a.address, req.target.prefix);
    if (refusal !== null) return { refusal };
  }
  return first;
}

export async function sendOnce(req: SendRequest): Promise<AttemptResult> {
  const started = performance.now();
  const result = (status: number | null, error: string | null, refused = false): AttemptResult => ({
    status,
    error,
    durationMs: Math.round(performance.now() - started),
    refused,
  });
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), Math.max(0, req.timeoutMs));
  const cancel = (): void => deadline.abort();
  req.signal?.addEventListener("abort", cancel, { once: true });
  if (req.signal?.aborted) deadline.abort();
  const why = (): string => (req.signal?.aborted ? "aborted" : `timed out after ${req.timeoutMs} ms`);
  try {
    const { url, prefix } = req.target;
    // A target assembled by hand with another host's prefix would borrow that prefix's literal exception.
    if (url.host.toLowerCase() !== prefix.host || url.protocol !== prefix.protocol) {
      return result(null, `refused: ${url.protocol}//${url.host} does not match the prefix ${prefix.protocol}//${prefix.host}`, true);
    }
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    const to = await within(deadline.signal, destination(req, hostname));
    if (to === ABORTED) return result(null, why());
    if ("refusal" in to) return result(null, `refused: ${to.refusal}`, true);
    if ("failure" in to) return result(null, to.failure);
    return await exchange(req, to, deadline.signal, why, result);
  } catch (err) {
    // Nothing above should throw; a caller's retry loop must still get an answer if something does.
    return result(null, `delivery failed: ${messageOf(err)}`);
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener("abort", cancel);
  }
}

function exchange(
  req: SendRequest,
  to: ResolvedAddress,
  signal: AbortSignal,
  why: () => string,
  result: (status: number | null, error: string | null) => AttemptResult,
): Promise<AttemptResult> {
  const { url } = req.target;
  const secure = url.protocol === "https:";
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  const where = to.address === hostname ? url.host : `${url.host} via ${to.address}`;
  const options: https.RequestOptions = {
    method: "POST",
    // The name, not the address: the Host header and, for https, SNI and the certificate check stay on it.
    host: hostname,
    port,
    path: url.pathname,
    headers: headersFor(req),
    agent: false,
    lookup: pinned(to),
  };
  if (secure) {
    // RFC 6066 forbids an IP address as server name; the certificate is then checked against the IP itself.
    if (isIP(hostname) === 0) options.servername = hostname;
    if (req.ca !== undefined) options.ca = req.ca;
  }
  if (signal.aborted) return Promise.resolve(result(null, why()));
  return new Promise<AttemptResult>((resolve) => {
    let status: number | null = null;
    let settled = false;
    let response: http.IncomingMessage | null = null;
    const settle = (error: string | null): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      response?.destroy();
      request.destroy();
      resolve(result(status, error));
    };
    const onAbort = (): void => settle(status === null ? why() : `${why()} while reading the response (status ${status})`);
    const request = (secure ? https : http).request(options, (res) => {
      response = res;
      status = res.statusCode ?? null;
      const code = status;
      const answer = (): string | null => (code === null ? "the receiver sent no status" : verdict(code));
      let seen = 0;
      res.on("data", (chunk: Buffer | string) => {
        seen += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
        if (seen > MAX_RESPONSE_BYTES) settle(answer());
      });
      res.on("end", () => settle(answer()));
      res.on("error", (err) => settle(`reading the response failed: ${describe(err, where)}`));
      res.on("close", () => settle(res.complete ? answer() : `the connection closed before the response was complete (status ${code})`));
    });
    request.on("error", (err) => settle(describe(err, where)));
    signal.addEventListener("abort", onAbort, { once: true });
    request.end(req.body);
  });
}

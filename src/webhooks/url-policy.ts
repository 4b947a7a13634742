// Which callback URLs a run may name: syntax checks (400), the operator's WEBHOOK_ALLOWED_PREFIXES (403), and the address classes no callback may reach unless a prefix names that address.
import { isIP } from "node:net";
import { underPrefix } from "../git/url-policy.ts";

export class WebhookUrlError extends Error {
  override readonly name = "WebhookUrlError";
  constructor(
    message: string,
    /** "invalid" → 400, "not_allowed" → 403. */
    readonly kind: "invalid" | "not_allowed",
  ) {
    super(message);
  }
}

export interface WebhookPrefix {
  protocol: string;
  /** host[:port], lower case, as the WHATWG parser normalised it (so "2130706433" is "127.0.0.1"). */
  host: string;
  /** The host without port or IPv6 brackets: what DNS resolves and what TLS checks the certificate against. */
  hostname: string;
  path: string;
  /** The prefix names an IP literal or "localhost": that address is allowed even though it is loopback/private. */
  literal: boolean;
}

export interface WebhookTarget {
  url: URL;
  prefix: WebhookPrefix;
}

const MAX_URL_LENGTH = 2048;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// Written out as scheme://authority, so the authority the raw text shows is the one the parser reads.
const PLAIN = /^(https?):\/\/([^/?#]*)/i;
// "." / ".." segments (also percent-encoded) are collapsed by the parser: what was written is not what is checked.
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?=[/?#]|$)/i;

function invalid(message: string): never {
  throw new WebhookUrlError(`callback URL ${message}`, "invalid");
}

/** The host as an address (no brackets), or null when it is a name. */
function addressOf(hostname: string): string | null {
  const bare = hostname.replace(/^\[|\]$/g, "");
  return isIP(bare) === 0 ? null : bare;
}

/** Parses WEBHOOK_ALLOWED_PREFIXES entries; throws with the offending entry. */
export function parseWebhookPrefixes(list: readonly string[]): WebhookPrefix[] {
  return list.map((entry) => {
    const bad = (why: string): never => {
      throw new Error(`WEBHOOK_ALLOWED_PREFIXES entry "${entry}" ${why}`);
    };
    if (CONTROL.test(entry) || /\s/.test(entry)) bad("contains whitespace or control characters");
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      return bad("is not a URL prefix such as https://hooks.example.com/ci/");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") bad("must be an http(s) URL");
    if (url.username || url.password || url.search || url.hash || entry.includes("?") || entry.includes("#")) {
      bad("must not have credentials, a query or a fragment");
    }
    // A prefix the callback check would refuse to match on is an operator mistake, not a silent no-op.
    if (/%2f|%5c/i.test(url.pathname) || url.pathname.includes(";") || entry.includes("\\") || DOT_SEGMENT.test(entry)) {
      bad('must not contain "..", ";", a backslash or an encoded slash');
    }
    const hostname = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
    return {
      protocol: url.protocol,
      host: url.host.toLowerCase(),
      hostname,
      path: url.pathname,
      literal: isIP(hostname) !== 0 || hostname === "localhost",
    };
  });
}

function listOf(prefixes: readonly WebhookPrefix[]): string {
  return prefixes.map((p) => `${p.protocol}//${p.host}${p.path}`).join(", ");
}

/** Refuses everything that is not a plain http(s) URL under an allowed prefix, and IP literals of internal address classes. */
export function checkWebhookUrl(raw: string, prefixes: readonly WebhookPrefix[]): WebhookTarget {
  if (raw.length === 0) invalid("must not be empty");
  if (raw.length > MAX_URL_LENGTH) invalid(`is longer than ${MAX_URL_LENGTH} characters`);
  if (CONTROL.test(raw)) invalid("contains control characters");
  if (raw.startsWith("-")) invalid("must not start with '-'");
  if (/\s/.test(raw)) invalid("must not contain whitespace");
  const plain = PLAIN.exec(raw);
  if (!plain) invalid("must be an absolute http:// or https:// URL (scheme://host/path)");
  // Backslashes read as slashes in http(s) URLs, so "\..\" would collapse where no "/" shows.
  if (raw.includes("\\")) invalid("must not contain a backslash");
  // An "@" anywhere in the written authority: "http://allowed@evil/" and "http://evil#@allowed/" alike.
  if ((plain[2] as string).includes("@")) invalid("must not contain credentials");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return invalid("is not a valid URL");
  }
  if (url.username || url.password) invalid("must not contain credentials");
  if (url.search || url.hash || raw.includes("?") || raw.includes("#")) invalid("must not have a query string or fragment");
  // A receiver that decodes %2F or %5C before routing resolves "hooks/..%2Fadmin" outside the prefix.
  if (/%2f|%5c/i.test(url.pathname)) invalid("path must not contain an encoded slash or backslash (%2F, %5C)");
  // Servlet-style servers read "..;/" as "../" after the prefix check.
  if (url.pathname.includes(";")) invalid('path must not contain ";"');
  if (DOT_SEGMENT.test(raw.slice((plain[0] as string).length))) invalid('path must not contain "." or ".." segments');

  if (prefixes.length === 0) {
    throw new WebhookUrlError("callback URLs are not allowed on this server: WEBHOOK_ALLOWED_PREFIXES is empty", "not_allowed");
  }
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  const prefix = prefixes.find((p) => underPrefix(url, p));
  const address = addressOf(url.hostname);
  if (!prefix) {
    const kind = address === null ? null : described(address);
    const note = kind === null ? "" : `, and ${address} is ${kind}`;
    throw new WebhookUrlError(`callback URL ${shown} is not allowed on this server${note} (WEBHOOK_ALLOWED_PREFIXES: ${listOf(prefixes)})`, "not_allowed");
  }
  const refusal = address === null ? null : addressRefusal(address, prefix);
  if (refusal !== null) {
    throw new WebhookUrlError(`callback URL ${shown} is not allowed: ${refusal} (WEBHOOK_ALLOWED_PREFIXES: ${listOf(prefixes)})`, "not_allowed");
  }
  return { url, prefix };
}

/** Eight 16-bit groups, or null when `a` is not an IPv6 address. */
function ipv6Groups(a: string): number[] | null {
  if (isIP(a) !== 6) return null;
  let text = a.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [b0, b1, b2, b3] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const parse = (s: string | undefined): number[] => (s ? s.split(":").map((g) => Number.parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 ? groups : null;
}

/**
 * One spelling per address, IPv4 inside IPv6 unwrapped: "::ffff:7f00:1", "::ffff:127.0.0.1" and "::127.0.0.1" are all
 * 127.0.0.1 to the checks below, since a dual-stack socket (or a NAT64 gateway) delivers them there.
 */
function canonical(address: string): string {
  if (isIP(address) === 4) return address;
  const g = ipv6Groups(address);
  if (!g) return address.toLowerCase();
  const zero = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
  const v4 = (): string => [(g[6] as number) >> 8, (g[6] as number) & 255, (g[7] as number) >> 8, (g[7] as number) & 255].join(".");
  const mapped = zero(0, 5) && g[5] === 0xffff;
  const translated = zero(0, 4) && g[4] === 0xffff && g[5] === 0;
  const compatible = zero(0, 6) && !zero(6, 8) && !(g[6] === 0 && g[7] === 1);
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6);
  if (mapped || translated || compatible || nat64) return v4();
  return g.map((x) => x.toString(16)).join(":");
}

/** The class of an address no callback may reach by default, or null for a public address. */
function internalClass(address: string): string | null {
  if (isIP(address) === 4) {
    const [a, b, c, d] = address.split(".").map(Number) as [number, number, number, number];
    if (a === 127) return "loopback";
    if (a === 169 && b === 254) return c === 169 && d === 254 ? "link-local (cloud metadata)" : "link-local";
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
    if (a === 100 && b >= 64 && b <= 127) return "carrier-grade NAT (shared)";
    if (a === 0) return "unspecified";
    if (a >= 224 && a <= 239) return "multicast";
    if (a >= 240) return a === 255 && b === 255 && c === 255 && d === 255 ? "broadcast" : "reserved";
    return null;
  }
  const g = ipv6Groups(address);
  if (!g) return "unparseable";
  const first = g[0] as number;
  if (g.every((x) => x === 0)) return "unspecified";
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return "loopback";
  if ((first & 0xffc0) === 0xfe80) return "link-local";
  // fec0::/10 is deprecated site-local, routed like fc00::/7 where it still exists.
  if ((first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfec0) return "private";
  if ((first & 0xff00) === 0xff00) return "multicast";
  return null;
}

/**
 * Checks one address a callback host resolved to (or the IP literal it is): null when a connection may go there,
 * else why not. Only a prefix that names the address itself (or "localhost", for loopback) admits an internal one.
 */
export function addressRefusal(address: string, prefix: WebhookPrefix): string | null {
  const bare = address.replace(/^\[|\]$/g, "");
  const subject = bare === prefix.hostname ? `${bare} is` : `${prefix.hostname} resolved to ${bare},`;
  if (isIP(bare) === 0) return `${subject} not an IP address`;
  // A zone ("fe80::1%eth0") picks an interface, not a different address.
  const a = canonical(bare.replace(/%.*$/, ""));
  const kind = internalClass(a);
  if (kind === null) return null;
  if (prefix.literal && (prefix.hostname === "localhost" ? kind === "loopback" : canonical(prefix.hostname) === a)) return null;
  return `${subject} ${article(kind)} (allowed only where a WEBHOOK_ALLOWED_PREFIXES entry names it)`;
}

function article(kind: string): string {
  return `${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind} address`;
}

/** "a private address" for an internal address, null for a public one. */
function described(address: string): string | null {
  const kind = internalClass(canonical(address.replace(/%.*$/, "")));
  return kind === null ? null : article(kind);
}

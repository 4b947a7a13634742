// Which hosts an agent may reach through the egress proxy, and which addresses it never may (loopback, link-local, the server).
import { isIP } from "node:net";
import os from "node:os";

/** One AGENT_ALLOWED_HOSTS entry: `host`, `*.domain` (subdomains only) or an IP, with `:port` (default 80 and 443). */
export interface HostPattern {
  /** Lower-case host, or the domain after `*.`. */
  host: string;
  wildcard: boolean;
  /** null: 80 and 443. */
  port: number | null;
  /** An IP or `localhost` written out: lets that address through even where addresses are never allowed. */
  literal: boolean;
}

const HOST = /^(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:]+\])(?::(\d{1,5}))?$/;

/** Parses one pattern; null when it is not one (the config names the bad entry). */
export function parsePattern(text: string): HostPattern | null {
  const m = HOST.exec(text.trim().toLowerCase());
  if (!m) return null;
  const host = (m[2] as string).replace(/^\[|\]$/g, "");
  const port = m[3] === undefined ? null : Number(m[3]);
  if (port !== null && (port < 1 || port > 65535)) return null;
  const wildcard = m[1] !== undefined;
  if (wildcard && isIP(host)) return null;
  return { host, wildcard, port, literal: !wildcard && (isIP(host) !== 0 || host === "localhost") };
}

function portMatches(p: HostPattern, port: number): boolean {
  return p.port === null ? port === 80 || port === 443 : p.port === port;
}

export function matches(p: HostPattern, host: string, port: number): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  const hostOk = p.wildcard ? h.endsWith(`.${p.host}`) : h === p.host;
  return hostOk && portMatches(p, port);
}

/** ::ffff:127.0.0.1 is 127.0.0.1: an IPv4 address must not slip through in its IPv6 spelling. */
export function normaliseAddress(address: string): string {
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped ? (mapped[1] as string) : a;
}

/** Loopback, link-local (the cloud metadata address among them) and unspecified addresses. */
export function isNeverAllowed(address: string): boolean {
  const a = normaliseAddress(address);
  if (isIP(a) === 4) {
    const [x, y] = a.split(".").map(Number) as [number, number];
    return x === 127 || x === 0 || (x === 169 && y === 254);
  }
  return a === "::1" || a === "::" || /^fe[89ab][0-9a-f]:/.test(a);
}

/** This machine's own addresses: the server's port there is the server itself. */
export function isLocalAddress(address: string): boolean {
  const a = normaliseAddress(address);
  if (isNeverAllowed(a)) return true;
  return Object.values(os.networkInterfaces()).some((list) => (list ?? []).some((i) => normaliseAddress(i.address) === a));
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

export class AllowList {
  constructor(
    private readonly patterns: readonly HostPattern[],
    /** The server's own port (known once it listens): never a target on this machine's addresses, unless an IP pattern names it. */
    private readonly serverPort: () => number,
  ) {}

  /** The host part, before DNS: does any pattern admit host:port? */
  admits(host: string, port: number): HostPattern | null {
    return this.patterns.find((p) => matches(p, host, port)) ?? null;
  }

  /**
   * The address the host resolved to (resolved once; the connection goes to exactly this address, so a
   * DNS answer that changes afterwards cannot redirect it).
   */
  checkAddress(pattern: HostPattern, address: string, port: number): Decision {
    const explicit = pattern.literal && (normaliseAddress(pattern.host) === normaliseAddress(address) || (pattern.host === "localhost" && isNeverAllowed(address)));
    if (explicit) return { allowed: true, reason: "listed explicitly" };
    if (isNeverAllowed(address)) return { allowed: false, reason: `${address} is a loopback or link-local address (never allowed unless listed as an IP)` };
    if (port === this.serverPort() && isLocalAddress(address)) return { allowed: false, reason: "the server's own port" };
    return { allowed: true, reason: "allowed" };
  }
}

// The agents' only way out in AGENT_NETWORK=proxy: an HTTP/HTTPS (CONNECT) proxy that lets through only allowed hosts.
//
// Each run authenticates with its own token (the credentials in the HTTP(S)_PROXY the server set),
// so every attempt is that run's event. A host is checked by name, resolved once, its address
// checked, and the connection made to exactly that address (a DNS answer that changes later cannot
// redirect it). Refusals are answered 403 with the reason, in plain text, to the tool that asked.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Socket, TCPSocketListener, UnixSocketListener } from "bun";
import type { AllowList } from "./allow-list.ts";
import { SocketWriter } from "./socket-pipe.ts";

export interface EgressAttempt {
  host: string;
  port: number;
  allowed: boolean;
  reason: string;
}

export interface EgressRun {
  onAttempt(attempt: EgressAttempt): void;
}

interface Conn {
  /** The request head as it arrives; null once it has been handled. */
  head: Uint8Array | null;
  /** Set once the request head is handled: from then on bytes go to the upstream. */
  upstream: SocketWriter | null;
  /** What the client sent after the head before the upstream was connected. */
  early: Uint8Array[];
  closed: boolean;
  toClient: SocketWriter | null;
}

const MAX_HEAD = 16 * 1024;
const CONNECT_TIMEOUT_MS = 15_000;
const decoder = new TextDecoder();

function reply(socket: Socket<Conn>, status: string, message: string, extra = ""): void {
  socket.write(`HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n${extra}content-length: ${Buffer.byteLength(message) + 1}\r\n\r\n${message}\n`);
  socket.end();
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function endOfHead(buf: Uint8Array): number {
  for (let i = 3; i < buf.byteLength; i++) {
    if (buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

interface Target {
  host: string;
  port: number;
  /** For plain HTTP: the request to send upstream, in origin form. */
  forward: string | null;
}

/** host:port from CONNECT, or the absolute-form URL of a plain HTTP request. */
function targetOf(method: string, uri: string, version: string, headerLines: string[]): Target | string {
  if (method === "CONNECT") {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(uri);
    if (!m) return "CONNECT needs host:port";
    return { host: (m[1] as string).replace(/^\[|\]$/g, ""), port: Number(m[2]), forward: null };
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "a proxy request needs an absolute http:// URL (or CONNECT for https)";
  }
  if (url.protocol !== "http:") return `${url.protocol} is not proxied this way: use CONNECT (HTTPS_PROXY)`;
  const kept = headerLines.filter((l) => !/^(proxy-authorization|proxy-connection|connection|keep-alive):/i.test(l));
  const forward = `${method} ${url.pathname}${url.search} ${version}\r\n${kept.join("\r\n")}\r\nconnection: close\r\n\r\n`;
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 80), forward };
}

export class EgressProxy {
  private readonly runs = new Map<string, EgressRun>();
  private readonly listeners: (TCPSocketListener<Conn> | UnixSocketListener<Conn>)[] = [];

  constructor(
    private readonly allow: AllowList,
    /** Name → the one address to connect to (tests give their own: no DNS server is needed to test rebinding). */
    private readonly resolve: (host: string) => Promise<string> = async (host) => (await lookup(host)).address,
  ) {}

  /** A run's token, as its HTTP(S)_PROXY credentials carry it; gone at unregister. */
  register(token: string, run: EgressRun): () => void {
    this.runs.set(token, run);
    return () => this.runs.delete(token);
  }

  /** Listens on a unix socket (bound into network-less sandboxes) and/or loopback TCP (for the Landlock fallback). */
  listen(where: { unix: string } | { port: number }): number | null {
    const socket = {
      open: (s: Socket<Conn>) => void (s.data = { head: new Uint8Array(0), upstream: null, early: [], closed: false, toClient: null }),
      data: (s: Socket<Conn>, chunk: Buffer) => this.onData(s, new Uint8Array(chunk)),
      drain: (s: Socket<Conn>) => s.data.toClient?.drain(),
      close: (s: Socket<Conn>) => this.onClose(s),
      error: (s: Socket<Conn>) => this.onClose(s),
    };
    const listener = "unix" in where ? Bun.listen<Conn>({ unix: where.unix, socket }) : Bun.listen<Conn>({ hostname: "127.0.0.1", port: where.port, socket });
    this.listeners.push(listener);
    return "port" in listener ? listener.port : null;
  }

  stop(): void {
    for (const l of this.listeners.splice(0)) l.stop(true);
  }

  private onClose(s: Socket<Conn>): void {
    if (s.data.closed) return;
    s.data.closed = true;
    s.data.upstream?.end();
  }

  private onData(s: Socket<Conn>, chunk: Uint8Array): void {
    const c = s.data;
    if (c.upstream) return c.upstream.write(chunk);
    if (c.head === null) return void c.early.push(chunk);
    const head = concat(c.head, chunk);
    c.head = head;
    const end = endOfHead(head);
    if (end === -1) {
      if (head.byteLength > MAX_HEAD) reply(s, "431 Request Header Fields Too Large", "opencode-server egress proxy: request head too large");
      return;
    }
    // From here on the head is handled; later bytes wait in `early` until the upstream is there.
    c.head = null;
    if (end < head.byteLength) c.early.push(head.subarray(end));
    void this.handle(s, decoder.decode(head.subarray(0, end)));
  }

  private async handle(s: Socket<Conn>, head: string): Promise<void> {
    const [requestLine = "", ...headerLines] = head.split("\r\n").filter((l) => l !== "");
    const [method = "", uri = "", version = "HTTP/1.1"] = requestLine.split(" ");
    const auth = headerLines.find((l) => /^proxy-authorization:/i.test(l))?.split(":").slice(1).join(":").trim() ?? "";
    const basic = /^basic\s+(\S+)$/i.exec(auth);
    const token = basic ? Buffer.from(basic[1] as string, "base64").toString().split(":").slice(1).join(":") : "";
    const run = this.runs.get(token);
    if (!run) {
      return reply(s, "407 Proxy Authentication Required", "opencode-server egress proxy: use the HTTP(S)_PROXY this run was given (its credentials name the run)", 'proxy-authenticate: Basic realm="opencode-server"\r\n');
    }
    const target = targetOf(method.toUpperCase(), uri, version, headerLines);
    if (typeof target === "string") return reply(s, "400 Bad Request", `opencode-server egress proxy: ${target}`);
    const refuse = (reason: string) => {
      run.onAttempt({ host: target.host, port: target.port, allowed: false, reason });
      reply(s, "403 Forbidden", `opencode-server egress proxy: ${target.host}:${target.port} refused: ${reason}`);
    };
    const pattern = this.allow.admits(target.host, target.port);
    if (!pattern) return refuse("not in AGENT_ALLOWED_HOSTS (nor a model provider in use)");
    let address: string;
    try {
      address = isIP(target.host) ? target.host : await this.resolve(target.host);
    } catch {
      return refuse("the name does not resolve");
    }
    const decision = this.allow.checkAddress(pattern, address, target.port);
    if (!decision.allowed) return refuse(decision.reason);
    try {
      await this.connect(s, address, target);
      run.onAttempt({ host: target.host, port: target.port, allowed: true, reason: decision.reason });
    } catch (err) {
      run.onAttempt({ host: target.host, port: target.port, allowed: false, reason: `unreachable: ${err instanceof Error ? err.message : String(err)}` });
      if (!s.data.closed) reply(s, "502 Bad Gateway", `opencode-server egress proxy: ${target.host}:${target.port} is unreachable`);
    }
  }

  private async connect(s: Socket<Conn>, address: string, target: Target): Promise<void> {
    const client = new SocketWriter(s as Socket<unknown>);
    const upstream = await Promise.race([
      Bun.connect({
        hostname: address,
        port: target.port,
        socket: {
          data: (_u, chunk) => client.write(new Uint8Array(chunk)),
          drain: () => s.data.upstream?.drain(),
          close: () => client.end(),
          error: () => client.end(),
        },
      }),
      Bun.sleep(CONNECT_TIMEOUT_MS).then(() => Promise.reject(new Error("connect timed out"))),
    ]);
    if (s.data.closed) return void upstream.end();
    const toUpstream = new SocketWriter(upstream as Socket<unknown>);
    toUpstream.source = s as Socket<unknown>;
    client.source = upstream as Socket<unknown>;
    s.data.toClient = client;
    if (target.forward === null) s.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    else toUpstream.write(new TextEncoder().encode(target.forward));
    for (const early of s.data.early.splice(0)) toUpstream.write(early);
    s.data.upstream = toUpstream;
  }
}

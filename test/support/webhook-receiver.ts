// A loopback webhook receiver for tests: checks X-Signature-256, records every request, and answers as scripted (fail, drop, hang, trickle, redirect), across restarts on the same port.
import { createHmac, timingSafeEqual } from "node:crypto";
import { waitFor } from "./wait.ts";

export interface ReceivedDelivery {
  /** Date.now() when the request arrived. */
  at: number;
  method: string;
  path: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
  /** X-Signature-256 is "sha256=" + HMAC-SHA256(secret, body), computed here independently of src/webhooks/signature.ts. */
  signatureValid: boolean;
  /** What the receiver did with it: "200", "500", "redirect 302", "drop", "hang", "trickle 200". */
  answer: string;
}

export type Reply =
  | { kind: "status"; status: number; body?: string }
  | { kind: "redirect"; location: string; status?: number }
  /** Resets the connection without sending a byte. */
  | { kind: "drop" }
  /** Never answers; the request is released (and counted) when the client goes away or the receiver stops. */
  | { kind: "hang" }
  /** Sends the status line, then one body byte every `everyMs` for as long as the client stays. */
  | { kind: "trickle"; status?: number; everyMs?: number };

export interface ReceiverOptions {
  secret: string;
  /** 0 (default): any free port; restarts reuse the port first bound. */
  port?: number;
  /** A loopback address; default 127.0.0.1. */
  hostname?: string;
  /** Serve https with this certificate. */
  tls?: { cert: string; key: string };
  /** The answer when nothing is scripted; default 200. */
  fallback?: Reply;
}

export class WebhookReceiver {
  readonly deliveries: ReceivedDelivery[] = [];
  /** Requests that hung and whose client has since gone away (or that stop() ended). */
  released = 0;
  private readonly queue: Reply[] = [];
  private readonly hanging = new Set<() => void>();
  private readonly tricklers = new Set<ReturnType<typeof setInterval>>();
  private server: ReturnType<typeof Bun.serve> | null = null;
  private boundPort: number;
  private fallback: Reply;

  constructor(private readonly opts: ReceiverOptions) {
    this.boundPort = opts.port ?? 0;
    this.fallback = opts.fallback ?? { kind: "status", status: 200 };
  }

  get port(): number {
    return this.boundPort;
  }

  get hostname(): string {
    return this.opts.hostname ?? "127.0.0.1";
  }

  /** Every request that arrived, whatever it was answered. */
  get hits(): number {
    return this.deliveries.length;
  }

  get hung(): number {
    return this.deliveries.filter((d) => d.answer === "hang").length;
  }

  get running(): boolean {
    return this.server !== null;
  }

  url(path = "/"): string {
    return `${this.opts.tls ? "https" : "http"}://${this.hostname}:${this.boundPort}${path}`;
  }

  /** Answers the next `times` requests with `reply` (after whatever is already scripted). */
  script(reply: Reply, times = 1): this {
    for (let i = 0; i < times; i++) this.queue.push(reply);
    return this;
  }

  failNext(times = 1, status = 500): this {
    return this.script({ kind: "status", status }, times);
  }

  dropNext(times = 1): this {
    return this.script({ kind: "drop" }, times);
  }

  hangNext(times = 1): this {
    return this.script({ kind: "hang" }, times);
  }

  redirectNext(location: string, times = 1, status = 302): this {
    return this.script({ kind: "redirect", location, status }, times);
  }

  /** The answer once the script has run out. */
  answerAlways(reply: Reply): this {
    this.fallback = reply;
    return this;
  }

  /** Forgets recorded deliveries and the script. */
  reset(): void {
    this.deliveries.length = 0;
    this.queue.length = 0;
    this.released = 0;
  }

  async waitForDeliveries(n: number, timeoutMs = 10_000): Promise<ReceivedDelivery[]> {
    await waitFor(() => this.deliveries.length >= n, { timeoutMs, what: `${n} webhook deliveries (got ${this.deliveries.length})` });
    return this.deliveries;
  }

  async waitForReleased(n: number, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.released >= n, { timeoutMs, what: `${n} hung requests to be released (got ${this.released})` });
  }

  async start(): Promise<this> {
    if (this.server) return this;
    this.server = Bun.serve({
      hostname: this.hostname,
      port: this.boundPort,
      // A hang lasts until the client gives up, not until the server's idle timer does.
      idleTimeout: 0,
      ...(this.opts.tls ? { tls: this.opts.tls } : {}),
      fetch: (req) => this.handle(req),
    });
    this.boundPort = this.server.port ?? this.boundPort;
    return this;
  }

  /** Closes every connection (hung ones too); the recorded deliveries and the script stay for a later start(). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const release of [...this.hanging]) release();
    for (const t of this.tricklers) clearInterval(t);
    this.tricklers.clear();
    await server?.stop(true);
  }

  private signed(body: string, header: string | null): boolean {
    if (header === null) return false;
    const expected = Buffer.from(`sha256=${createHmac("sha256", this.opts.secret).update(body).digest("hex")}`);
    const given = Buffer.from(header);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async handle(req: Request): Promise<Response> {
    const body = await req.text();
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const reply = this.queue.shift() ?? this.fallback;
    const delivery: ReceivedDelivery = {
      at: Date.now(),
      method: req.method,
      path: new URL(req.url).pathname,
      headers: Object.fromEntries([...req.headers].map(([k, v]) => [k.toLowerCase(), v])),
      body,
      json,
      signatureValid: this.signed(body, req.headers.get("x-signature-256")),
      answer: "",
    };
    this.deliveries.push(delivery);
    switch (reply.kind) {
      case "status":
        delivery.answer = String(reply.status);
        return new Response(reply.body ?? "", { status: reply.status });
      case "redirect": {
        const status = reply.status ?? 302;
        delivery.answer = `redirect ${status}`;
        return new Response(null, { status, headers: { Location: reply.location } });
      }
      case "drop":
        delivery.answer = "drop";
        // Erroring the body before the first byte makes Bun reset the connection with nothing sent.
        return new Response(new ReadableStream({ pull: (c) => c.error() }));
      case "hang":
        delivery.answer = "hang";
        await this.hang(req);
        return new Response(null, { status: 503 });
      case "trickle":
        delivery.answer = `trickle ${reply.status ?? 200}`;
        return new Response(this.trickle(reply.everyMs ?? 50), { status: reply.status ?? 200 });
    }
  }

  private hang(req: Request): Promise<void> {
    return new Promise<void>((resolve) => {
      const release = (): void => {
        if (!this.hanging.delete(release)) return;
        this.released++;
        resolve();
      };
      this.hanging.add(release);
      req.signal.addEventListener("abort", release, { once: true });
      if (req.signal.aborted) release();
    });
  }

  private trickle(everyMs: number): ReadableStream<Uint8Array> {
    let timer: ReturnType<typeof setInterval> | undefined;
    const stopTimer = (): void => {
      if (timer === undefined) return;
      clearInterval(timer);
      this.tricklers.delete(timer);
      timer = undefined;
    };
    return new ReadableStream<Uint8Array>({
      start: (c) => {
        timer = setInterval(() => {
          try {
            c.enqueue(new Uint8Array([46]));
          } catch {
            stopTimer();
          }
        }, everyMs);
        this.tricklers.add(timer);
      },
      cancel: stopTimer,
    });
  }
}

/** Starts a receiver (on a free loopback port unless `port` is given). */
export async function startWebhookReceiver(opts: ReceiverOptions): Promise<WebhookReceiver> {
  return new WebhookReceiver(opts).start();
}

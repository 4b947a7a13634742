// The key proxy and the egress proxy on their own, against loopback servers: keys added outside, streams unbuffered, hosts allowed or refused.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AllowList, parsePattern, type HostPattern } from "../../src/network/allow-list.ts";
import { EgressProxy, type EgressAttempt } from "../../src/network/egress-proxy.ts";
import { placeholderOf, ProviderProxy } from "../../src/network/provider-proxy.ts";
import { tempDir } from "../support/temp.ts";

const KEY = "sk-real-provider-key-canary-8c1d";
const TOKEN = "0123456789abcdef0123456789abcdef";
const PLACEHOLDER = placeholderOf(TOKEN);

interface Seen {
  path: string;
  headers: Record<string, string>;
  body: string;
}

let upstream: ReturnType<typeof Bun.serve>;
const seen: Seen[] = [];
/** When the upstream wrote each piece of the stream (performance.now()). */
let dripSent: number[] = [];

beforeAll(() => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      seen.push({ path: `${url.pathname}${url.search}`, headers: Object.fromEntries(req.headers), body: await req.text() });
      const status = /^\/v1\/status\/(\d+)$/.exec(url.pathname);
      if (status) return Response.json({ error: { message: `upstream says ${status[1]}` } }, { status: Number(status[1]), headers: { "retry-after": "7", "x-upstream": "yes" } });
      if (url.pathname === "/v1/drip") {
        dripSent = [];
        const enc = new TextEncoder();
        return new Response(
          new ReadableStream({
            async start(c) {
              for (let i = 0; i < 5; i++) {
                c.enqueue(enc.encode(`data: {"piece":${i}}\n\n`));
                dripSent.push(performance.now());
                await Bun.sleep(150);
              }
              c.close();
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        );
      }
      return Response.json({ ok: true, path: url.pathname });
    },
  });
});

afterAll(() => {
  void upstream.stop(true);
});

describe("the key proxy", () => {
  let proxy: ProviderProxy;
  let base: string;
  let unregister: () => void;
  beforeAll(() => {
    proxy = new ProviderProxy([{ id: "prov", upstream: `http://127.0.0.1:${upstream.port}/v1`, key: KEY }]);
    base = `http://127.0.0.1:${proxy.listen({ port: 0 })}`;
    unregister = proxy.register(TOKEN);
  });
  afterAll(() => proxy.stop());

  test("the placeholder becomes the real key wherever the SDK put it — only for this provider's upstream", async () => {
    seen.length = 0;
    const post = (path: string, headers: Record<string, string>) => fetch(`${base}/p/prov${path}`, { method: "POST", headers, body: '{"model":"m"}' });
    expect((await post("/chat/completions", { authorization: `Bearer ${PLACEHOLDER}` })).status).toBe(200);
    expect((await post("/messages", { "x-api-key": PLACEHOLDER, "anthropic-version": "2023-06-01" })).status).toBe(200);
    expect((await post(`/models/g:generate?key=${PLACEHOLDER}&alt=sse`, { "x-goog-api-key": PLACEHOLDER })).status).toBe(200);
    expect(seen.map((s) => [s.path, s.headers.authorization ?? s.headers["x-api-key"] ?? s.headers["x-goog-api-key"], s.body])).toEqual([
      ["/v1/chat/completions", `Bearer ${KEY}`, '{"model":"m"}'],
      ["/v1/messages", KEY, '{"model":"m"}'],
      [`/v1/models/g:generate?key=${KEY}&alt=sse`, KEY, '{"model":"m"}'],
    ]);
    expect(seen.every((s) => !JSON.stringify(s).includes(PLACEHOLDER))).toBe(true);
  });

  test("no running run's placeholder, an unknown provider: refused, and the upstream never called", async () => {
    seen.length = 0;
    const other = placeholderOf("f".repeat(32));
    const res = await fetch(`${base}/p/prov/chat`, { method: "POST", headers: { authorization: `Bearer ${other}` }, body: "{}" });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe("opencode-server provider proxy: no placeholder key of a running run in this request");
    expect((await fetch(`${base}/p/nope/chat`, { headers: { authorization: `Bearer ${PLACEHOLDER}` } })).status).toBe(404);
    expect((await fetch(`${base}/elsewhere`, { headers: { authorization: `Bearer ${PLACEHOLDER}` } })).status).toBe(404);
    expect(seen).toEqual([]);
  });

  test("provider errors pass through unchanged: status, body, headers", async () => {
    for (const status of [401, 429, 500, 503]) {
      const res = await fetch(`${base}/p/prov/status/${status}`, { headers: { authorization: `Bearer ${PLACEHOLDER}` } });
      expect([res.status, res.headers.get("retry-after"), res.headers.get("x-upstream"), await res.json()]).toEqual([status, "7", "yes", { error: { message: `upstream says ${status}` } }]);
    }
  });

  test("a streamed answer arrives as the provider sends it, piece by piece, not at the end", async () => {
    const res = await fetch(`${base}/p/prov/drip`, { headers: { authorization: `Bearer ${PLACEHOLDER}` } });
    const arrived: { at: number; text: string }[] = [];
    const decoder = new TextDecoder();
    for await (const chunk of res.body as ReadableStream<Uint8Array>) arrived.push({ at: performance.now(), text: decoder.decode(chunk) });
    expect(arrived.map((a) => a.text).join("")).toBe([0, 1, 2, 3, 4].map((i) => `data: {"piece":${i}}\n\n`).join(""));
    // The first piece was here before the provider had even written the last one.
    expect(arrived.length).toBeGreaterThanOrEqual(3);
    expect((arrived[0] as { at: number }).at).toBeLessThan(dripSent.at(-1) as number);
  });

  test("over a unix socket too (how a sandbox without a network reaches it); a run's placeholder dies with the run", async () => {
    const sock = `${tempDir("ocs-kp-")}/provider.sock`;
    proxy.listen({ unix: sock });
    const res = await fetch("http://localhost/p/prov/chat", { unix: sock, method: "POST", headers: { authorization: `Bearer ${PLACEHOLDER}` }, body: "{}" } as RequestInit);
    expect(res.status).toBe(200);
    unregister();
    expect((await fetch(`${base}/p/prov/chat`, { method: "POST", headers: { authorization: `Bearer ${PLACEHOLDER}` }, body: "{}" })).status).toBe(401);
  });
});

describe("the egress proxy", () => {
  let egress: EgressProxy;
  let proxyPort: number;
  let target: { port: number; stop(closeActive?: boolean): void };
  const attempts: EgressAttempt[] = [];
  const names: Record<string, string> = { "rebind.test": "127.0.0.1", "metadata.test": "169.254.169.254", "public.test": "192.0.2.10" };

  beforeAll(() => {
    // An echo server standing in for an allowed host.
    target = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d) => void s.write(d) } });
    const patterns = [`127.0.0.1:${target.port}`, `*.test:${target.port}`, "*.test"].map((p) => parsePattern(p) as HostPattern);
    egress = new EgressProxy(new AllowList(patterns, () => 8080), async (host) => {
      const a = names[host];
      if (!a) throw new Error("ENOTFOUND");
      return a;
    });
    proxyPort = egress.listen({ port: 0 }) as number;
    egress.register(TOKEN, { onAttempt: (a) => attempts.push(a) });
  });
  afterAll(() => {
    egress.stop();
    target.stop(true);
  });

  /** A raw CONNECT, then one line through the tunnel: what the proxy answered and what came back. */
  async function connect(hostPort: string, auth: string | null = `run:${TOKEN}`): Promise<{ head: string; echoed: string }> {
    let received = "";
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: proxyPort, socket: { data: (_s, d) => void (received += d.toString()) } });
    const authLine = auth ? `Proxy-Authorization: Basic ${Buffer.from(auth).toString("base64")}\r\n` : "";
    socket.write(`CONNECT ${hostPort} HTTP/1.1\r\nHost: ${hostPort}\r\n${authLine}\r\n`);
    const deadline = Date.now() + 5000;
    while (!received.includes("\r\n\r\n") && Date.now() < deadline) await Bun.sleep(5);
    const [head = "", rest = ""] = received.split("\r\n\r\n");
    if (head.startsWith("HTTP/1.1 200")) {
      socket.write("ping through the tunnel\n");
      while (!received.includes("ping through the tunnel") && Date.now() < deadline) await Bun.sleep(5);
    }
    socket.end();
    return { head: head.split("\r\n")[0] as string, echoed: received.split("\r\n\r\n")[1] ?? rest };
  }

  test("an allowed host:port gets a tunnel; the attempt is recorded", async () => {
    attempts.length = 0;
    expect(await connect(`127.0.0.1:${target.port}`)).toEqual({ head: "HTTP/1.1 200 Connection Established", echoed: "ping through the tunnel\n" });
    expect(attempts).toEqual([{ host: "127.0.0.1", port: target.port, allowed: true, reason: "listed explicitly" }]);
  });

  test("refusals are 403 with the reason: an unlisted host or port, a name resolving to loopback or the metadata address", async () => {
    attempts.length = 0;
    const refused = (hostPort: string) => connect(hostPort).then((r) => r.head);
    expect(await refused("example.org:443")).toBe("HTTP/1.1 403 Forbidden");
    expect(await refused(`127.0.0.1:${target.port + 1}`)).toBe("HTTP/1.1 403 Forbidden");
    expect(await refused(`rebind.test:${target.port}`)).toBe("HTTP/1.1 403 Forbidden");
    expect(await refused("metadata.test:443")).toBe("HTTP/1.1 403 Forbidden");
    expect(attempts.map((a) => [a.host, a.allowed, a.reason])).toEqual([
      ["example.org", false, "not in AGENT_ALLOWED_HOSTS (nor a model provider in use)"],
      ["127.0.0.1", false, "not in AGENT_ALLOWED_HOSTS (nor a model provider in use)"],
      ["rebind.test", false, "127.0.0.1 is a loopback or link-local address (never allowed unless listed as an IP)"],
      ["metadata.test", false, "169.254.169.254 is a loopback or link-local address (never allowed unless listed as an IP)"],
    ]);
  });

  test("without this run's credentials: 407, nothing attempted", async () => {
    attempts.length = 0;
    expect((await connect(`127.0.0.1:${target.port}`, null)).head).toBe("HTTP/1.1 407 Proxy Authentication Required");
    expect((await connect(`127.0.0.1:${target.port}`, "run:not-a-token")).head).toBe("HTTP/1.1 407 Proxy Authentication Required");
    expect(attempts).toEqual([]);
  });

  test("plain HTTP through the proxy (absolute-form), as Bun's fetch and curl send it", async () => {
    const web = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`hello ${new URL(req.url).pathname} ${req.headers.get("proxy-authorization") ?? "no proxy credentials"}`) });
    try {
      const allow = new AllowList([parsePattern(`127.0.0.1:${web.port}`) as HostPattern], () => 8080);
      const proxy = new EgressProxy(allow);
      const port = proxy.listen({ port: 0 }) as number;
      proxy.register(TOKEN, { onAttempt: () => {} });
      const res = await fetch(`http://127.0.0.1:${web.port}/x`, { proxy: `http://run:${TOKEN}@127.0.0.1:${port}` } as RequestInit);
      // The upstream never sees the run's proxy credentials.
      expect([res.status, await res.text()]).toEqual([200, "hello /x no proxy credentials"]);
      proxy.stop();
    } finally {
      void web.stop(true);
    }
  });
});

// The key-injecting proxy: an agent's opencode calls its providers here with a placeholder key; the real key is added outside the sandbox.
//
// `/p/<provider>/<path>` goes to that provider's real base URL + `<path>`, and only there. The
// placeholder (`ocs-run-<token>`, the run's own) is replaced by the real key wherever the SDK put
// it — an Authorization, x-api-key or x-goog-api-key header, or the query — so every provider SDK
// works unchanged. Bodies stream both ways (SSE arrives as the provider sends it); statuses and
// provider errors pass through as they are, so opencode's own retries behave as without the proxy.
import type { Server } from "bun";
import type { ProxiedProvider } from "../opencode/provider-keys.ts";

export const PLACEHOLDER_PREFIX = "ocs-run-";
const PLACEHOLDER = /ocs-run-[0-9a-f]{32}/g;
/** Hop-by-hop headers, and what the proxy itself sets. */
const DROP_REQUEST = new Set(["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "accept-encoding", "content-length"]);
const DROP_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);

export function placeholderOf(token: string): string {
  return `${PLACEHOLDER_PREFIX}${token}`;
}

function error(status: number, message: string): Response {
  // The shape OpenAI-compatible SDKs read their error message from.
  return Response.json({ error: { message: `opencode-server provider proxy: ${message}`, type: "proxy_error" } }, { status });
}

export class ProviderProxy {
  private readonly providers: ReadonlyMap<string, ProxiedProvider>;
  private readonly tokens = new Set<string>();
  private readonly servers: Server<undefined>[] = [];

  constructor(providers: readonly ProxiedProvider[]) {
    this.providers = new Map(providers.map((p) => [p.id, p]));
  }

  get size(): number {
    return this.providers.size;
  }

  /** A run's token: valid from here until the returned function is called (the run ended). */
  register(token: string): () => void {
    this.tokens.add(token);
    return () => this.tokens.delete(token);
  }

  /** Loopback TCP (agents sharing the host's network) or a unix socket (bound into network-less sandboxes). */
  listen(where: { port: number } | { unix: string }): number | null {
    const fetch = (req: Request, srv: Server<undefined>) => {
      // A model may think for minutes between two streamed tokens: no idle cut-off here.
      srv.timeout(req, 0);
      return this.handle(req);
    };
    const server = "unix" in where ? Bun.serve({ unix: where.unix, fetch }) : Bun.serve({ hostname: "127.0.0.1", port: where.port, fetch });
    this.servers.push(server as Server<undefined>);
    return "unix" in where ? null : (server.port ?? null);
  }

  stop(): void {
    for (const s of this.servers.splice(0)) void s.stop(true);
  }

  private tokenIn(values: Iterable<string>): string | null {
    for (const v of values) {
      for (const m of v.matchAll(PLACEHOLDER)) {
        const token = m[0].slice(PLACEHOLDER_PREFIX.length);
        if (this.tokens.has(token)) return token;
      }
    }
    return null;
  }

  async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const m = /^\/p\/([^/]+)(\/.*)?$/.exec(url.pathname);
    const provider = m ? this.providers.get(decodeURIComponent(m[1] as string)) : undefined;
    if (!m || !provider) return error(404, `no proxied provider at ${url.pathname.slice(0, 100)}`);
    const token = this.tokenIn([...req.headers.values(), url.search]);
    if (!token) return error(401, "no placeholder key of a running run in this request");
    const swap = (v: string) => v.replaceAll(placeholderOf(token), provider.key);
    const headers = new Headers();
    for (const [name, value] of req.headers) if (!DROP_REQUEST.has(name)) headers.set(name, swap(value));
    // Identity: the body goes back as it comes, never decoded and re-encoded on the way.
    headers.set("accept-encoding", "identity");
    let upstream: Response;
    try {
      upstream = await fetch(`${provider.upstream}${m[2] ?? ""}${swap(url.search)}`, {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : req.body,
        redirect: "manual",
        signal: req.signal,
        // Bun: what arrives is passed on, byte for byte.
        decompress: false,
      } as RequestInit);
    } catch (err) {
      return error(502, `${provider.id} is unreachable (${err instanceof Error ? err.message : String(err)})`);
    }
    const out = new Headers();
    for (const [name, value] of upstream.headers) if (!DROP_RESPONSE.has(name)) out.append(name, value);
    return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: out });
  }
}

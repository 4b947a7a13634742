// The few calls of opencode's documented server API (`opencode serve`) a warm agent needs, over its unix socket or loopback port.

/** Where a warm agent's server answers: a unix socket the bridge relays into its sandbox, or a loopback port. */
export type ServeAddress = { unix: string } | { port: number };

/** One event of `GET /event`: `{type, properties}`. */
export interface ServeEvent {
  type: string;
  properties: Record<string, unknown>;
}

export class ServeError extends Error {
  override readonly name = "ServeError";
  constructor(
    message: string,
    readonly status: number | null,
    /** The error object opencode answered with, when it sent one. */
    readonly body: unknown = null,
  ) {
    super(message);
  }
}

function record(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export class ServeClient {
  private readonly auth: string;

  constructor(
    private readonly address: ServeAddress,
    password: string,
    /** The directory every call works in (opencode's instance is per directory). */
    private readonly directory: string,
  ) {
    // opencode's basic auth (OPENCODE_SERVER_PASSWORD; the user name defaults to "opencode").
    this.auth = `Basic ${Buffer.from(`opencode:${password}`).toString("base64")}`;
  }

  private url(route: string): string {
    const host = "unix" in this.address ? "http://warm-agent" : `http://127.0.0.1:${this.address.port}`;
    const sep = route.includes("?") ? "&" : "?";
    return `${host}${route}${sep}directory=${encodeURIComponent(this.directory)}`;
  }

  private fetch(route: string, init: RequestInit & { signal?: AbortSignal }): Promise<Response> {
    const headers: Record<string, string> = { authorization: this.auth };
    if (init.body !== undefined) headers["content-type"] = "application/json";
    const transport = "unix" in this.address ? { unix: this.address.unix } : {};
    return fetch(this.url(route), { ...init, ...transport, headers });
  }

  /** Sends one call and returns its JSON answer; any other status is a ServeError. */
  async call(method: string, route: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    let res: Response;
    try {
      res = await this.fetch(route, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }), ...(signal ? { signal } : {}) });
    } catch (err) {
      throw new ServeError(`opencode's server cannot be reached (${method} ${route.split("?")[0]}): ${err instanceof Error ? err.message : String(err)}`, null);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text === "" ? null : JSON.parse(text);
    } catch {
      json = null;
    }
    if (!res.ok) throw new ServeError(`opencode's server answered ${method} ${route.split("?")[0]} with HTTP ${res.status}`, res.status, json);
    return json;
  }

  async createSession(title: string, permission: readonly unknown[]): Promise<{ id: string; directory: string | null }> {
    const s = record(await this.call("POST", "/session", { title, permission }));
    if (typeof s.id !== "string") throw new ServeError("opencode's server created a session without an id", null, s);
    return { id: s.id, directory: typeof s.directory === "string" ? s.directory : null };
  }

  /** `POST /session/:id/message`: answers once the agent's loop for this prompt has ended. */
  prompt(sessionId: string, body: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    return this.call("POST", `/session/${encodeURIComponent(sessionId)}/message`, body, signal);
  }

  async replyPermission(requestId: string, reply: "reject" | "once"): Promise<void> {
    await this.call("POST", `/permission/${encodeURIComponent(requestId)}/reply`, { reply });
  }

  /** Drops the directory's instance, so the next call boots it again (after a clone made it a git project). */
  async disposeInstance(): Promise<void> {
    await this.call("POST", "/instance/dispose");
  }

  /**
   * Opens `GET /event` and resolves once opencode answered (as `opencode run` subscribes before it
   * prompts, so no event of the prompt is missed); the events then arrive until the stream ends or `signal` aborts.
   */
  async subscribe(signal: AbortSignal): Promise<AsyncGenerator<ServeEvent>> {
    let res: Response;
    try {
      res = await this.fetch("/event", { method: "GET", signal });
    } catch (err) {
      throw new ServeError(`opencode's event stream cannot be opened: ${err instanceof Error ? err.message : String(err)}`, null);
    }
    if (!res.ok || !res.body) throw new ServeError(`opencode's event stream answered HTTP ${res.status}`, res.status);
    return this.events(res.body, signal);
  }

  private async *events(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<ServeEvent> {
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart())
            .join("\n");
          if (data === "") continue;
          let parsed: Record<string, unknown>;
          try {
            parsed = record(JSON.parse(data));
          } catch {
            continue;
          }
          if (typeof parsed.type === "string") yield { type: parsed.type, properties: record(parsed.properties) };
        }
      }
    } catch (err) {
      if (!signal.aborted) throw new ServeError(`opencode's event stream broke: ${err instanceof Error ? err.message : String(err)}`, null);
    }
  }
}

// A scripted OpenAI-compatible chat-completions server for driving the real opencode CLI in tests.
//
// The script travels inside the prompt, so one fake serves many concurrent runs: a line
// `@fake [step, step, ...]` in a user message lists the assistant turns, and the turn to play is
// the number of assistant messages after it. The latest user message with a script wins, so a
// continued session (a follow-up prompt) plays its own script. `@fake64 <base64>` anywhere in the
// prompt does the same without quotes (for prompts passed through templates). Without a script the
// fake answers "ok". Every turn reports 100 prompt and 20 completion tokens unless a step says
// otherwise (`usage`); opencode prices them from the model's configured cost.

/** Tokens one turn reports (OpenAI's usage field). */
export interface FakeUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

export type FakeStep =
  | { text: string; usage?: FakeUsage }
  | { bash: string; timeout?: number; say?: string; usage?: FakeUsage }
  | { tool: string; args: Record<string, unknown>; usage?: FakeUsage }
  | { status: number; message?: string }
  | { stall: true }
  | { drip: string[]; everyMs: number };

export interface RecordedRequest {
  path: string;
  headers: Record<string, string>;
  body: ChatRequest;
  /** The body exactly as received, before parsing (what a leak scan must read). */
  rawBody: string;
  /** When the request arrived (epoch ms): bench 3 measures request → the model's first request with it. */
  at: number;
}

interface ChatMessage {
  role: string;
  content?: unknown;
  tool_call_id?: string;
}

interface ChatRequest {
  model?: string;
  messages?: ChatMessage[];
  stream?: boolean;
  tools?: unknown[];
}

export interface FakeLlm {
  readonly url: string;
  readonly baseURL: string;
  readonly requests: RecordedRequest[];
  /** Changes how long every later answer waits first (FakeLlmOptions.delayMs). */
  setDelay(ms: number): void;
  stop(): Promise<void>;
}

const SCRIPT_MARK = "@fake ";

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p === "object" && "text" in p ? String((p as { text: unknown }).text) : ""))
      .join("");
  }
  return "";
}

function parseScript(text: string): FakeStep[] | null {
  const encoded = /@fake64 ([A-Za-z0-9+/=]+)/.exec(text);
  if (encoded) return JSON.parse(Buffer.from(encoded[1] as string, "base64").toString("utf8")) as FakeStep[];
  const line = text.split("\n").find((l) => l.startsWith(SCRIPT_MARK));
  return line ? (JSON.parse(line.slice(SCRIPT_MARK.length)) as FakeStep[]) : null;
}

/** The script to play and the turn within it: the latest scripted user message, and the assistant messages since. */
export function playing(messages: ChatMessage[], unscripted: FakeStep[] = [{ text: "ok" }]): { script: FakeStep[]; turn: number } {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as ChatMessage;
    if (m.role !== "user") continue;
    const script = parseScript(contentText(m.content));
    if (script) return { script, turn: messages.slice(i + 1).filter((a) => a.role === "assistant").length };
  }
  const first = messages.findIndex((m) => m.role === "user");
  return { script: unscripted, turn: messages.slice(first + 1).filter((a) => a.role === "assistant").length };
}

export function scriptOf(messages: ChatMessage[], unscripted: FakeStep[] = [{ text: "ok" }]): FakeStep[] {
  return playing(messages, unscripted).script;
}

/** Builds the prompt line that makes the fake play `steps`. */
export function fakeScript(...steps: FakeStep[]): string {
  return SCRIPT_MARK + JSON.stringify(steps);
}

/** The same script as a quote-free token, safe inside any JSON or text template. */
export function fakeScript64(...steps: FakeStep[]): string {
  return `@fake64 ${Buffer.from(JSON.stringify(steps)).toString("base64")}`;
}

function sse(chunks: unknown[]): string {
  return chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join("") + "data: [DONE]\n\n";
}

function chunk(id: string, delta: Record<string, unknown>, finish: string | null, usage?: unknown) {
  return {
    id,
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model: "fake-model",
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...(usage ? { usage } : {}),
  };
}

const USAGE = { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 };

function usageOf(u: FakeUsage | undefined) {
  return u ? { ...u, total_tokens: u.prompt_tokens + u.completion_tokens } : USAGE;
}

function toolCallBody(id: string, name: string, args: Record<string, unknown>, say?: string, usage?: FakeUsage): string {
  return sse([
    ...(say ? [chunk(id, { role: "assistant", content: say }, null)] : []),
    chunk(id, {
      role: "assistant",
      tool_calls: [{ index: 0, id: `call_${id}`, type: "function", function: { name, arguments: JSON.stringify(args) } }],
    }, null),
    chunk(id, {}, "tool_calls", usageOf(usage)),
  ]);
}

function textBody(id: string, text: string, usage?: FakeUsage): string {
  return sse([
    chunk(id, { role: "assistant", content: text }, null),
    chunk(id, {}, "stop", usageOf(usage)),
  ]);
}

const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };

export interface FakeLlmOptions {
  /** What a prompt without a script plays (default: answer "ok"); `{{prompt}}` in a text is the user's prompt. */
  unscripted?: FakeStep[];
  /** Every answer waits this long first (a slow model, for throughput benches); default 0. */
  delayMs?: number;
}

export function startFakeLlm(opts: FakeLlmOptions = {}): FakeLlm {
  const requests: RecordedRequest[] = [];
  const stalled = new Set<() => void>();
  let seq = 0;
  let delayMs = opts.delayMs ?? 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const at = Date.now();
      const url = new URL(req.url);
      const rawBody = await req.text().catch(() => "");
      let body: ChatRequest = {};
      try {
        body = JSON.parse(rawBody) as ChatRequest;
      } catch {
        // Not JSON: recorded raw only, as before.
      }
      requests.push({ path: url.pathname, headers: Object.fromEntries(req.headers), body, rawBody, at });
      if (delayMs > 0) await Bun.sleep(delayMs);
      if (!url.pathname.endsWith("/chat/completions")) return new Response("not found", { status: 404 });
      const messages = body.messages ?? [];
      const id = `fake-${++seq}`;
      const system = contentText(messages.find((m) => m.role === "system")?.content);
      if (system.startsWith("You are a title generator")) {
        return new Response(textBody(id, "Fake title"), { headers: SSE_HEADERS });
      }
      const { script, turn } = playing(messages, opts.unscripted);
      const step = script[turn] ?? { text: "done" };
      if ("status" in step) {
        return Response.json(
          { error: { message: step.message ?? `fake status ${step.status}`, type: "invalid_request_error", code: null } },
          { status: step.status },
        );
      }
      if ("stall" in step) {
        // Never answer: the connection stays open until the client goes away or the fake stops.
        return new Promise<Response>((resolve) => {
          const release = () => resolve(new Response("stopped", { status: 503 }));
          stalled.add(release);
          req.signal.addEventListener("abort", () => {
            stalled.delete(release);
            release();
          });
        });
      }
      if ("drip" in step) {
        const encoder = new TextEncoder();
        const pieces = step.drip;
        const stream = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(encoder.encode(`data: ${JSON.stringify(chunk(id, { role: "assistant", content: "" }, null))}\n\n`));
            for (const piece of pieces) {
              await Bun.sleep(step.everyMs);
              if (req.signal.aborted) break;
              controller.enqueue(encoder.encode(`data: ${JSON.stringify(chunk(id, { content: piece }, null))}\n\n`));
            }
            if (!req.signal.aborted) {
              controller.enqueue(encoder.encode(`data: ${JSON.stringify(chunk(id, {}, "stop", USAGE))}\n\ndata: [DONE]\n\n`));
            }
            controller.close();
          },
        });
        return new Response(stream, { headers: SSE_HEADERS });
      }
      if ("bash" in step) {
        return new Response(
          toolCallBody(id, "bash", { command: step.bash, description: "fake step", ...(step.timeout ? { timeout: step.timeout } : {}) }, step.say, step.usage),
          { headers: SSE_HEADERS },
        );
      }
      if ("tool" in step) return new Response(toolCallBody(id, step.tool, step.args, undefined, step.usage), { headers: SSE_HEADERS });
      let text = step.text;
      const lastTool = [...messages].reverse().find((m) => m.role === "tool");
      text = text.replaceAll("{{tool_output}}", contentText(lastTool?.content)).replaceAll("{{prompt}}", contentText(messages.find((m) => m.role === "user")?.content));
      return new Response(textBody(id, text, step.usage), { headers: SSE_HEADERS });
    },
  });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    baseURL: `${url}/v1`,
    requests,
    setDelay(ms) {
      delayMs = ms;
    },
    async stop() {
      for (const release of stalled) release();
      stalled.clear();
      await server.stop(true);
    },
  };
}

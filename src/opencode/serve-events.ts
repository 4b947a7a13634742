// Maps opencode's server events to the lines `opencode run --format json` prints, exactly as opencode's own `run` does.
//
// `opencode run` is a client of the same server API: it subscribes to `GET /event`, prints a
// `{type, timestamp, sessionID, …}` line for a finished tool call, a step start or finish, a
// completed text part and a session error of its session, rejects every permission request of its
// session or its sub-agents' (unless --auto), and stops at the session's `idle` status. This is that
// loop (read from opencode 1.18.33's embedded source), so the EventCollector gets the same objects.
import type { ServeEvent } from "./serve-client.ts";

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
}

/** What one server event asks of the run, beyond the lines it produced. */
export interface MappedEvent {
  /** The session went idle: the prompt's work is over. */
  idle: boolean;
  /** A permission request to answer "reject" (as `opencode run` without --auto does). */
  reject: string | null;
}

/** The permissions `opencode run` puts on the session it creates (questions and plan switches would wait for a human). */
export const RUN_SESSION_PERMISSIONS = [
  { permission: "question", action: "deny", pattern: "*" },
  { permission: "plan_enter", action: "deny", pattern: "*" },
  { permission: "plan_exit", action: "deny", pattern: "*" },
] as const;

/** "provider/model" → the message body's model, as `opencode run --model` splits it (at the first slash). */
export function modelOf(model: string | null): { providerID: string; modelID: string } | undefined {
  if (!model) return undefined;
  const [providerID, ...rest] = model.split("/");
  return { providerID: providerID ?? "", modelID: rest.join("/") };
}

export class ServeEventMapper {
  /** The run's session and its sub-agents' sessions: their permission requests are the run's. */
  private readonly family: Set<string>;
  private errorText: string | null = null;

  constructor(
    private readonly sessionId: string,
    private readonly line: (event: Json) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.family = new Set([sessionId]);
  }

  /** True once a session error was reported (opencode run then exits 1). */
  get failed(): boolean {
    return this.errorText !== null;
  }

  /** Emits a line as `opencode run --format json` writes it. */
  emit(type: string, extra: Json): void {
    this.line({ type, timestamp: this.now(), sessionID: this.sessionId, ...extra });
  }

  handle(event: ServeEvent): MappedEvent {
    const p = event.properties;
    const none: MappedEvent = { idle: false, reject: null };
    switch (event.type) {
      case "session.created": {
        const info = obj(p.info);
        if (typeof info.parentID === "string" && this.family.has(info.parentID) && typeof info.id === "string") this.family.add(info.id);
        return none;
      }
      case "message.part.updated": {
        const part = obj(p.part);
        if (part.sessionID !== this.sessionId) return none;
        const state = obj(part.state);
        if (part.type === "tool" && (state.status === "completed" || state.status === "error")) this.emit("tool_use", { part });
        else if (part.type === "step-start") this.emit("step_start", { part });
        else if (part.type === "step-finish") this.emit("step_finish", { part });
        else if (part.type === "text" && obj(part.time).end) this.emit("text", { part });
        // Reasoning parts are printed only with --thinking, which the server never passes.
        return none;
      }
      case "session.error": {
        if (p.sessionID !== this.sessionId || !p.error) return none;
        const error = obj(p.error);
        const data = obj(error.data);
        const message = "message" in data ? String(data.message) : String(error.name);
        this.errorText = this.errorText === null ? message : `${this.errorText}\n${message}`;
        this.emit("error", { error: p.error });
        return none;
      }
      case "session.status":
        return { idle: p.sessionID === this.sessionId && obj(p.status).type === "idle", reject: null };
      case "permission.asked":
        return { idle: false, reject: typeof p.sessionID === "string" && this.family.has(p.sessionID) && typeof p.id === "string" ? p.id : null };
      default:
        return none;
    }
  }
}

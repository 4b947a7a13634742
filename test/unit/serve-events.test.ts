// The server-event → `opencode run --format json` line mapping, as opencode's own run command does it.
import { describe, expect, test } from "bun:test";
import { modelOf, ServeEventMapper } from "../../src/opencode/serve-events.ts";

const S = "ses_main";

function mapper() {
  const lines: Record<string, unknown>[] = [];
  const m = new ServeEventMapper(S, (l) => lines.push(l), () => 42);
  return { m, lines };
}

const part = (p: Record<string, unknown>) => ({ type: "message.part.updated", properties: { sessionID: p.sessionID ?? S, part: { sessionID: S, ...p } } });

describe("ServeEventMapper", () => {
  test("finished tools, step starts and finishes and completed texts become run lines; running tools, open texts and reasoning do not", () => {
    const { m, lines } = mapper();
    const events = [
      part({ id: "a", type: "step-start" }),
      part({ id: "t", type: "tool", tool: "bash", state: { status: "running", input: {} } }),
      part({ id: "t", type: "tool", tool: "bash", state: { status: "completed", input: { command: "ls" }, output: "x" } }),
      part({ id: "e", type: "tool", tool: "bash", state: { status: "error", error: "no" } }),
      part({ id: "x", type: "text", text: "partial", time: { start: 1 } }),
      part({ id: "x", type: "text", text: "whole", time: { start: 1, end: 2 } }),
      part({ id: "r", type: "reasoning", text: "hm", time: { start: 1, end: 2 } }),
      part({ id: "f", type: "step-finish", reason: "stop", tokens: { input: 1 } }),
    ];
    for (const e of events) expect(m.handle(e)).toEqual({ idle: false, reject: null });
    expect(lines).toEqual([
      { type: "step_start", timestamp: 42, sessionID: S, part: { sessionID: S, id: "a", type: "step-start" } },
      { type: "tool_use", timestamp: 42, sessionID: S, part: { sessionID: S, id: "t", type: "tool", tool: "bash", state: { status: "completed", input: { command: "ls" }, output: "x" } } },
      { type: "tool_use", timestamp: 42, sessionID: S, part: { sessionID: S, id: "e", type: "tool", tool: "bash", state: { status: "error", error: "no" } } },
      { type: "text", timestamp: 42, sessionID: S, part: { sessionID: S, id: "x", type: "text", text: "whole", time: { start: 1, end: 2 } } },
      { type: "step_finish", timestamp: 42, sessionID: S, part: { sessionID: S, id: "f", type: "step-finish", reason: "stop", tokens: { input: 1 } } },
    ]);
    expect(m.failed).toBe(false);
  });

  test("parts of other sessions are ignored", () => {
    const { m, lines } = mapper();
    m.handle({ type: "message.part.updated", properties: { part: { sessionID: "ses_other", type: "step-start" } } });
    expect(lines).toEqual([]);
  });

  test("a session error is an error line and fails the run; another session's is not", () => {
    const { m, lines } = mapper();
    m.handle({ type: "session.error", properties: { sessionID: "ses_other", error: { name: "X" } } });
    expect(m.failed).toBe(false);
    const error = { name: "APIError", data: { message: "bad key", statusCode: 401 } };
    m.handle({ type: "session.error", properties: { sessionID: S, error } });
    expect(lines).toEqual([{ type: "error", timestamp: 42, sessionID: S, error }]);
    expect(m.failed).toBe(true);
  });

  test("permission requests of the session and its sub-agents' sessions are to be rejected; others are not", () => {
    const { m } = mapper();
    expect(m.handle({ type: "permission.asked", properties: { id: "per_1", sessionID: S } })).toEqual({ idle: false, reject: "per_1" });
    expect(m.handle({ type: "permission.asked", properties: { id: "per_2", sessionID: "ses_child" } })).toEqual({ idle: false, reject: null });
    m.handle({ type: "session.created", properties: { info: { id: "ses_child", parentID: S } } });
    expect(m.handle({ type: "permission.asked", properties: { id: "per_3", sessionID: "ses_child" } })).toEqual({ idle: false, reject: "per_3" });
    m.handle({ type: "session.created", properties: { info: { id: "ses_grandchild", parentID: "ses_child" } } });
    expect(m.handle({ type: "permission.asked", properties: { id: "per_4", sessionID: "ses_grandchild" } })).toEqual({ idle: false, reject: "per_4" });
  });

  test("the run ends at its own session's idle status only", () => {
    const { m } = mapper();
    expect(m.handle({ type: "session.status", properties: { sessionID: S, status: { type: "busy" } } }).idle).toBe(false);
    expect(m.handle({ type: "session.status", properties: { sessionID: "ses_child", status: { type: "idle" } } }).idle).toBe(false);
    expect(m.handle({ type: "session.status", properties: { sessionID: S, status: { type: "idle" } } }).idle).toBe(true);
  });

  test("a model splits at its first slash, as `opencode run --model` does", () => {
    expect(modelOf("openrouter/anthropic/claude")).toEqual({ providerID: "openrouter", modelID: "anthropic/claude" });
    expect(modelOf(null)).toBeUndefined();
  });
});

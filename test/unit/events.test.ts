// Parsing opencode's JSON events into output, usage and tools, and explaining failures.
import { expect, test } from "bun:test";
import { diagnose, EventCollector } from "../../src/opencode/events.ts";
import type { AgentEvent } from "../../src/opencode/types.ts";

const line = (o: unknown) => JSON.stringify(o);
const sid = "ses_1";

test("output joins text parts like plain `opencode run`; usage sums step_finish events", () => {
  const events: AgentEvent[] = [];
  const c = new EventCollector(1000, (e) => events.push(e));
  c.handleLine(line({ type: "step_start", sessionID: sid, part: {} }));
  c.handleLine(line({ type: "text", sessionID: sid, part: { id: "p1", text: "Let me check.\n" } }));
  c.handleLine(line({ type: "tool_use", sessionID: sid, part: { tool: "bash", state: { status: "completed", title: "ls", input: { command: "ls" }, output: "a\nb\n", time: { start: 1_700_000_000_000, end: 1_700_000_000_250 } } } }));
  c.handleLine(line({ type: "step_finish", sessionID: sid, part: { tokens: { input: 100, output: 20, reasoning: 5, cache: { read: 7, write: 1 } }, cost: 0.25 } }));
  c.handleLine(line({ type: "text", sessionID: sid, part: { id: "p2", text: "All done." } }));
  c.handleLine(line({ type: "step_finish", sessionID: sid, part: { tokens: { input: 50, output: 10, reasoning: 0, cache: { read: 0, write: 0 } }, cost: 0.25 } }));
  c.handleLine("not json");
  c.handleLine("");
  expect(c.summary()).toEqual({
    output: "Let me check.\nAll done.",
    outputTruncated: false,
    usage: { input_tokens: 150, output_tokens: 30, reasoning_tokens: 5, cache_read_tokens: 7, cache_write_tokens: 1, cost: 0.5 },
    sessionId: sid,
    tools: [{ tool: "bash", status: "completed", title: "ls", error: null, denied: false }],
  });
  expect(c.unparsedLines).toBe(1);
  expect(events.map((e) => e.type)).toEqual(["step", "text", "tool", "usage", "text", "usage"]);
  expect(events[2]).toEqual({ type: "tool", tool: "bash", status: "completed", title: "ls", error: null, denied: false, input: { command: "ls" }, output: "a\nb\n", duration_ms: 250 });
});

test("a failed tool call carries opencode's reason; permission refusals (ask auto-rejected, deny rule) are flagged", () => {
  const c = new EventCollector(1000, () => {});
  const tool = (state: Record<string, unknown>) => c.handleLine(line({ type: "tool_use", sessionID: sid, part: { tool: "bash", state: { input: {}, ...state } } }));
  tool({ status: "error", error: "The user rejected permission to use this specific tool call." });
  tool({ status: "error", error: "The user rejected permission to use this specific tool call with the following feedback: no" });
  tool({ status: "error", error: 'The user has specified a rule which prevents you from using this specific tool call. Here are some of the relevant rules [{"permission":"bash"}]' });
  tool({ status: "error", error: "Command exited with code 2" });
  tool({ status: "error" });
  tool({ status: "completed", title: "ls", error: "ignored: only failed calls have an error" });
  expect(c.summary().tools.map((t) => [t.status, t.error, t.denied])).toEqual([
    ["error", "The user rejected permission to use this specific tool call.", true],
    ["error", "The user rejected permission to use this specific tool call with the following feedback: no", true],
    ["error", 'The user has specified a rule which prevents you from using this specific tool call. Here are some of the relevant rules [{"permission":"bash"}]', true],
    ["error", "Command exited with code 2", false],
    ["error", "unknown error", false],
    ["completed", null, false],
  ]);
});

test("output is capped at maxOutputBytes without splitting a character", () => {
  const c = new EventCollector(10, () => {});
  c.handleLine(line({ type: "text", part: { id: "a", text: "123456789é" } }));
  c.handleLine(line({ type: "text", part: { id: "b", text: "more" } }));
  const s = c.summary();
  expect(s.output).toBe("123456789");
  expect(s.outputTruncated).toBe(true);
});

test("a repeated text part replaces the earlier version", () => {
  const c = new EventCollector(100, () => {});
  c.handleLine(line({ type: "text", part: { id: "a", text: "draft" } }));
  c.handleLine(line({ type: "text", part: { id: "a", text: "final" } }));
  expect(c.summary().output).toBe("final");
});

test("diagnose: provider errors carry their status", () => {
  const c = new EventCollector(100, () => {});
  c.handleLine(line({ type: "error", error: { name: "APIError", data: { message: "Incorrect API key provided", statusCode: 401 } } }));
  expect(diagnose(c.errorEvents, "", 1)).toBe("APIError: Incorrect API key provided (HTTP 401)");
});

test("diagnose: UnknownError is resolved through its ref in the log", () => {
  const c = new EventCollector(100, () => {});
  c.handleLine(line({ type: "error", error: { name: "UnknownError", data: { message: "Unexpected server error.", ref: "err_abc" } } }));
  const stderr = [
    'timestamp=2026-01-01T00:00:00Z level=ERROR message="share subscriber failed" cause="x"',
    'timestamp=2026-01-01T00:00:00Z level=ERROR message=failed ref=err_abc error="ProviderModelNotFoundError: Model not found: fake/nosuch." cause="stack\\n at x"',
  ].join("\n");
  expect(diagnose(c.errorEvents, stderr, 1)).toBe("ProviderModelNotFoundError: Model not found: fake/nosuch.");
});

test("diagnose: plain stderr errors, then the last ERROR log line, then the exit code", () => {
  expect(diagnose([], "\x1b[91mError: \x1b[0mUnexpected error\n\nj.split is not a function", 1)).toBe("Error: Unexpected error j.split is not a function");
  expect(diagnose([], 'timestamp=x level=ERROR message=process error="Cannot connect to API"', 1)).toBe("Cannot connect to API");
  expect(diagnose([], "", 3)).toBe("opencode exited with code 3");
  expect(diagnose([], "", null)).toBe("opencode was killed by a signal");
});

test("once the output is full, text lines are recognised by their head and ignored; other events never are", () => {
  const c = new EventCollector(10, () => {});
  const text = '{"type":"text","timestamp":1,"sessionID":"s","part":{"id":"a","text":"0123456789abc"}}';
  expect(c.ignores(text.slice(0, 64))).toBe(false);
  c.handleLine(text);
  expect(c.summary()).toMatchObject({ output: "0123456789", outputTruncated: true });
  expect(c.ignores(text.slice(0, 64))).toBe(true);
  expect(c.ignores('{"type":"step_finish","timestamp":1,"sessionID":"s"')).toBe(false);
  expect(c.ignores('{"type":"tool_use","timestamp":1')).toBe(false);
  expect(c.ignores('{"type":"error","timestamp":1')).toBe(false);
  expect(c.ignores("not json at all")).toBe(false);
});

// JSON nesting is measured before parsing, so a deep body is refused in milliseconds.
import { expect, test } from "bun:test";
import { nestingDepth } from "../../src/http/body.ts";
import { json, testApp } from "../support/app.ts";

const depth = (text: string) => nestingDepth(new TextEncoder().encode(text));

test("nestingDepth counts brackets outside strings only, escapes included", () => {
  expect(depth('{"prompt":"hi"}')).toBe(1);
  expect(depth('{"a":"[[[{{{","b":[1,[2]]}')).toBe(3);
  expect(depth('{"a":"\\"[[[","b":1}')).toBe(1);
  expect(depth('{"a":"\\\\","b":[[1]]}')).toBe(3);
  expect(depth("[".repeat(100) + "]".repeat(100))).toBe(100);
  expect(depth("plain")).toBe(0);
});

test("a deeply nested JSON body is a 400 naming the limit, and the agent never runs", async () => {
  const t = testApp({ maxRequestBytes: 10 * 1024 * 1024 });
  const body = "[".repeat(1_000_000) + "]".repeat(1_000_000);
  const res = await t.request("/run", { method: "POST", headers: { "content-type": "application/json" }, body });
  expect(res.status).toBe(400);
  const answer = (await res.json()) as Record<string, unknown>;
  expect(answer).toEqual({
    success: false,
    code: "invalid_request",
    error: "Invalid JSON body: nested deeper than 8 levels (a run request is one flat object)",
    request_id: expect.any(String),
  });
  // Moderately nested values still get the precise type error from the schema.
  const typed = await t.request("/run", json({ prompt: [[["x"]]] }));
  expect(typed.status).toBe(400);
  expect(((await typed.json()) as Record<string, unknown>).field).toBe("prompt");
  expect(t.runner.calls.length).toBe(0);
});

// JSON nesting is measured before parsing, so a deep body is refused in milliseconds.
import { expect, test } from "bun:test";
import { z } from "zod";
import { nestingDepth, parsePromptBody } from "../../src/http/body.ts";
import { FollowUpRequest, RunRequest } from "../../src/modules/run/model.ts";
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

/** What a body comes to: its value, or the refusal's message and field. */
async function outcomeOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    return { value: await run() };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err), field: (err as { details?: { field?: unknown } }).details?.field };
  }
}

const post = (body: string, type: string) => new Request("http://localhost/run", { method: "POST", headers: { "content-type": type }, body });

test("a plain-text body checked by the prompt's own schema comes out exactly as the whole schema makes it — value or refusal", async () => {
  const prompts = ["hi", "  padded  ", "two\nlines", "ünïcødé ✓", " ", "\n\t", "{\"prompt\":\"not json here\"}"];
  for (const schema of [RunRequest, FollowUpRequest]) {
    for (const prompt of prompts) {
      const fast = await outcomeOf(() => parsePromptBody(post(prompt, "text/plain"), 1024, schema));
      // The same prompt through the whole object schema (as a JSON body).
      const whole = await outcomeOf(() => parsePromptBody(post(JSON.stringify({ prompt }), "application/json"), 1024, schema));
      expect(fast).toEqual(whole);
    }
  }
  // A schema that makes something more of a prompt-only body (a default) is parsed whole, text or not.
  const withDefault = z.object({ prompt: z.string(), model: z.string().default("m") });
  expect(await parsePromptBody(post("hi", "text/plain"), 1024, withDefault)).toEqual({ prompt: "hi", model: "m" });
  const refusing = z.object({ prompt: z.string(), repository: z.string().optional() }).refine((b) => b.repository !== undefined, { message: "needs a repository" });
  expect(await outcomeOf(() => parsePromptBody(post("hi", "text/plain"), 1024, refusing))).toEqual({ error: "Invalid request body: needs a repository", field: undefined });
});

// The answer's JSON is made once: the store, POST /run and a stream's result frame share one string.
import { expect, test } from "bun:test";
import { formatEvent } from "../../src/http/sse.ts";
import { jsonOnce } from "../../src/lib/json-once.ts";
import type { RunEvent, RunOutcome } from "../../src/runs/model.ts";

const answer: RunOutcome = {
  success: true,
  error: null,
  output: 'a "quoted" line\nand é😀',
  execution_time: "1s",
  queue_time: "0s",
  request_id: "req",
  run_id: "run_1",
  session_id: null,
  model: null,
  usage: { input_tokens: 1, output_tokens: 1, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0 },
  tools: [],
  egress: [],
  output_truncated: false,
  exit_code: 0,
};

test("jsonOnce is JSON.stringify, and the same string for the same object", () => {
  expect(jsonOnce(answer)).toBe(JSON.stringify(answer));
  expect(jsonOnce(answer)).toBe(jsonOnce(answer));
  expect(jsonOnce({ ...answer })).toBe(JSON.stringify(answer));
});

test("a result frame splices the answer's JSON in: the same bytes as serialising the whole frame", () => {
  const event: RunEvent = { type: "result", status: "succeeded", answer, run_id: "run_1", seq: 7, time: "2026-01-01T00:00:00.000Z" };
  const whole = JSON.stringify({ type: "result", status: "succeeded", http_status: 200, answer, run_id: "run_1", seq: 7, time: "2026-01-01T00:00:00.000Z" });
  expect(formatEvent(event)).toBe(`id: 7\nevent: result\ndata: ${whole}\n\n`);
  const text: RunEvent = { type: "text", text: "hi", run_id: "run_1", seq: 3, time: "2026-01-01T00:00:00.000Z" };
  expect(formatEvent(text)).toBe(`id: 3\nevent: text\ndata: ${JSON.stringify(text)}\n\n`);
});

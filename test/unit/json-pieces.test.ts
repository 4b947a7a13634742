// The answer's JSON in pieces: together exactly JSON.stringify's text, a long field cut into bounded slices; the result frame and POST /run answer send them.
import { expect, test } from "bun:test";
import { outcomeResponse } from "../../src/http/answer.ts";
import { formatEvent } from "../../src/http/sse.ts";
import { jsonPieces, PIECE_CHARS, piecesCollections } from "../../src/lib/json-pieces.ts";
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

/** Characters JSON escapes (quote, backslash, controls, lone surrogates), ones it keeps (pairs, U+2028), and plain ones. */
const ALPHABET = ["a", "\n", '"', "\\", "\u0000", "\u001f", "é", "😀", "\ud800", "\udc00", "\u2028", " ", "x", "\t"];

/** A deterministic pseudo-random string (xorshift), so a failure replays. */
function textOf(seed: number, length: number): string {
  let x = seed | 1;
  let s = "";
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += ALPHABET[(x >>> 0) % ALPHABET.length];
  }
  return s;
}

test("a short answer is one piece: JSON.stringify's text", () => {
  expect([...jsonPieces(answer)]).toEqual([JSON.stringify(answer)]);
});

test("pieces together are JSON.stringify's text whatever the cut: escapes, surrogate pairs at a cut, skipped values, nested fields", () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const max = 1 + (seed % 9);
    const value: Record<string, unknown> = {
      ...(seed % 3 === 0 ? {} : { success: true }),
      error: null,
      output: textOf(seed, seed % 50),
      skipped: undefined,
      fn: () => 1,
      nested: { list: [1, textOf(seed + 1, 4)], long: textOf(seed + 2, 20) },
      patch: textOf(seed + 3, seed % 30),
      cost: 1.5,
    };
    const pieces = [...jsonPieces(value, max)];
    expect(pieces.join("")).toBe(JSON.stringify(value));
  }
});

test("a long field is cut into slices of at most the piece length (before escaping); the fields around it gather into one piece", () => {
  const output = "x".repeat(PIECE_CHARS * 2 + 5);
  const value = { ...answer, output };
  const pieces = [...jsonPieces(value)];
  expect(pieces.join("")).toBe(JSON.stringify(value));
  const rest = JSON.stringify(answer).slice(JSON.stringify(answer).indexOf(',"execution_time"'));
  expect(pieces).toEqual(['{"success":true,"error":null,"output":"', "x".repeat(PIECE_CHARS), "x".repeat(PIECE_CHARS), "xxxxx", `"${rest}`]);
});

test("anything but a plain object is serialised whole", () => {
  const withToJson = { output: "x".repeat(20), toJSON: () => ({ replaced: true }) };
  expect([...jsonPieces(withToJson, 4)]).toEqual(['{"replaced":true}']);
  const list = ["x".repeat(20)];
  expect([...jsonPieces(list, 4)]).toEqual([JSON.stringify(list)]);
});

test("slices made are counted towards a collection: writing or sending a long answer leaves its slices collectable", () => {
  const before = piecesCollections();
  // 5 MiB of slices: two 2 MiB thresholds crossed.
  for (const _ of jsonPieces({ output: "y".repeat(5 * 1024 * 1024) })) void _;
  expect(piecesCollections() - before).toBe(2);
});

test("POST /run's answer: a short one as one string, a long one streamed in pieces — the same bytes as JSON.stringify", async () => {
  const short = outcomeResponse(answer);
  expect(short.headers.get("content-type")).toBe("application/json;charset=utf-8");
  expect(await short.text()).toBe(JSON.stringify(answer));
  const long = { ...answer, output: `${"é😀\n\"".repeat(PIECE_CHARS)}end` };
  const res = outcomeResponse(long);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json;charset=utf-8");
  expect(await res.text()).toBe(JSON.stringify(long));
  const failed: RunOutcome = { ...answer, success: false, code: "timeout", error: "too slow", output: "z".repeat(PIECE_CHARS + 1) };
  const res408 = outcomeResponse(failed);
  expect([res408.status, await res408.text()]).toEqual([408, JSON.stringify(failed)]);
});

test("a result frame splices the answer's JSON in: the same bytes as serialising the whole frame, short or long", () => {
  for (const a of [answer, { ...answer, output: "ü\n".repeat(PIECE_CHARS) }]) {
    const event: RunEvent = { type: "result", status: "succeeded", answer: a, run_id: "run_1", seq: 7, time: "2026-01-01T00:00:00.000Z" };
    const whole = JSON.stringify({ type: "result", status: "succeeded", http_status: 200, answer: a, run_id: "run_1", seq: 7, time: "2026-01-01T00:00:00.000Z" });
    expect(formatEvent(event)).toBe(`id: 7\nevent: result\ndata: ${whole}\n\n`);
  }
  const text: RunEvent = { type: "text", text: "hi", run_id: "run_1", seq: 3, time: "2026-01-01T00:00:00.000Z" };
  expect(formatEvent(text)).toBe(`id: 3\nevent: text\ndata: ${JSON.stringify(text)}\n\n`);
});

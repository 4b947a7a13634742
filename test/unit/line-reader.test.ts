// Line splitting across chunk boundaries, with oversized lines dropped rather than buffered.
import { expect, test } from "bun:test";
import { PEEK_BYTES, readLines, TailBuffer, type LineItem } from "../../src/lib/line-reader.ts";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>, max: number): Promise<LineItem[]> {
  const out: LineItem[] = [];
  for await (const item of readLines(stream, max)) out.push(item);
  return out;
}

test("joins lines split across chunks and keeps a final line without newline", async () => {
  expect(await collect(streamOf("ab", "c\nde", "f\n\ng"), 100)).toEqual([{ line: "abc" }, { line: "def" }, { line: "" }, { line: "g" }]);
});

test("multi-byte characters split across chunks decode intact", async () => {
  const bytes = new TextEncoder().encode("é€\n");
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (const b of bytes) c.enqueue(new Uint8Array([b]));
      c.close();
    },
  });
  expect(await collect(stream, 100)).toEqual([{ line: "é€" }]);
});

test("a line over the cap is reported by size and the next line is intact", async () => {
  expect(await collect(streamOf("12345", "67890", "abc\nok\n"), 8)).toEqual([{ oversized: 13 }, { line: "ok" }]);
});

test("stop aborts a stream that never ends", async () => {
  const stop = new AbortController();
  const endless = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
  const done = collect2(endless, stop.signal);
  stop.abort();
  expect(await done).toEqual([]);
});

async function collect2(stream: ReadableStream<Uint8Array>, stop: AbortSignal) {
  const out: LineItem[] = [];
  for await (const item of readLines(stream, 100, { stop })) out.push(item);
  return out;
}

test("skip sees each line's head once, across chunk boundaries, and drops the lines it refuses without decoding them", async () => {
  const heads: string[] = [];
  const skip = (head: string) => (heads.push(head), head.startsWith("drop"));
  const long = "x".repeat(PEEK_BYTES * 3);
  const out: LineItem[] = [];
  const stream = streamOf("dr", "op me\nkeep ", "me\n", `drop${long}`, `${long}\n`, "ab\n", `keep${long}\nd`, "rop");
  for await (const item of readLines(stream, PEEK_BYTES * 10, { skip })) out.push(item);
  expect(out).toEqual([{ line: "keep me" }, { line: "ab" }, { line: `keep${long}` }]);
  expect(heads).toEqual(["drop me", "keep me", `drop${long}`.slice(0, PEEK_BYTES), "ab", `keep${long}`.slice(0, PEEK_BYTES), "drop"]);
});

test("a skipped line over the cap is neither reported nor buffered", async () => {
  const out: LineItem[] = [];
  for await (const item of readLines(streamOf("drop-", "y".repeat(500), "\nok\n"), 100, { skip: (h) => h.startsWith("drop") })) out.push(item);
  expect(out).toEqual([{ line: "ok" }]);
});

test("TailBuffer keeps the last characters only", () => {
  const t = new TailBuffer(5);
  for (const piece of ["abc", "defgh", "ij"]) t.push(piece);
  expect(t.value).toBe("fghij");
  expect(t.truncated).toBe(true);
});

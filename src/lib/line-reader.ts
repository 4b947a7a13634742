// Splits a byte stream into lines without ever holding more than one capped line in memory.

export type LineItem = { line: string } | { oversized: number };

const NEWLINE = 0x0a;

/**
 * Yields each line (without its newline). A line longer than `maxLineBytes` is not buffered:
 * its bytes are counted and dropped, and one `{ oversized }` item reports its length.
 * Aborting `stop` cancels the stream, for pipes a stray process may hold open forever.
 */
export async function* readLines(stream: ReadableStream<Uint8Array>, maxLineBytes: number, stop?: AbortSignal): AsyncGenerator<LineItem> {
  const decoder = new TextDecoder();
  let parts: Uint8Array[] = [];
  let size = 0;
  let dropping = false;
  let dropped = 0;

  const flush = (): LineItem => {
    if (dropping) {
      const item = { oversized: dropped };
      dropping = false;
      dropped = 0;
      return item;
    }
    const whole = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts, size);
    parts = [];
    size = 0;
    return { line: decoder.decode(whole) };
  };

  const add = (bytes: Uint8Array) => {
    if (bytes.length === 0) return;
    if (dropping) {
      dropped += bytes.length;
      return;
    }
    if (size + bytes.length > maxLineBytes) {
      dropping = true;
      dropped = size + bytes.length;
      parts = [];
      size = 0;
      return;
    }
    parts.push(bytes);
    size += bytes.length;
  };

  for await (const chunk of readChunks(stream, stop)) {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      add(chunk.subarray(start, nl));
      yield flush();
      start = nl + 1;
    }
    // Copy the remainder: the runtime may reuse the chunk's buffer.
    if (start < chunk.length) add(chunk.slice(start));
  }
  if (size > 0 || dropping) yield flush();
}

/** Keeps only the last `maxChars` characters written to it. */
export class TailBuffer {
  private text = "";
  private droppedChars = 0;

  constructor(private readonly maxChars: number) {}

  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.maxChars * 2) this.trim();
  }

  private trim(): void {
    const excess = this.text.length - this.maxChars;
    if (excess > 0) {
      this.text = this.text.slice(excess);
      this.droppedChars += excess;
    }
  }

  get value(): string {
    this.trim();
    return this.text;
  }

  get truncated(): boolean {
    this.trim();
    return this.droppedChars > 0;
  }
}

/** Iterates a byte stream until it ends or `stop` aborts, releasing it either way. */
export async function* readChunks(stream: ReadableStream<Uint8Array>, stop?: AbortSignal): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  stop?.addEventListener("abort", cancel, { once: true });
  try {
    if (stop?.aborted) return;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    stop?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}

// Splits a byte stream into lines without ever holding more than one capped line in memory.

export type LineItem = { line: string } | { oversized: number };

const NEWLINE = 0x0a;
/** How much of a line `skip` sees. */
export const PEEK_BYTES = 64;

export interface ReadLinesOptions {
  /** Aborting cancels the stream, for pipes a stray process may hold open forever. */
  stop?: AbortSignal;
  /**
   * Sees the first PEEK_BYTES of each line (fewer if the line is shorter); true drops the line
   * without decoding it — an agent printing 100 MB should not cost 100 MB of strings.
   */
  skip?: (head: string) => boolean;
  /** Sees the size of every chunk read. */
  onChunk?: (bytes: number) => void;
}

/**
 * Yields each line (without its newline). A line longer than `maxLineBytes` is not buffered:
 * its bytes are counted and dropped, and one `{ oversized }` item reports its length.
 */
export async function* readLines(stream: ReadableStream<Uint8Array>, maxLineBytes: number, opts: ReadLinesOptions = {}): AsyncGenerator<LineItem> {
  const decoder = new TextDecoder();
  const { skip, stop, onChunk } = opts;
  let parts: Uint8Array[] = [];
  let size = 0;
  let dropping = false;
  let dropped = 0;
  let skipping = false;
  let decided = !skip;

  const reset = () => {
    parts = [];
    size = 0;
    dropping = false;
    dropped = 0;
    skipping = false;
    decided = !skip;
  };

  /** Asks `skip` once per line, as soon as the head is known (`next`: bytes about to be added). */
  const decide = (next?: Uint8Array) => {
    decided = true;
    const known = next ? [...parts, next.subarray(0, PEEK_BYTES)] : parts;
    const head = known.length === 1 ? (known[0] as Uint8Array) : Buffer.concat(known);
    if (skip?.(decoder.decode(head.subarray(0, PEEK_BYTES)))) {
      skipping = dropping = true;
      dropped = size;
      parts = [];
      size = 0;
    }
  };

  const flush = (): LineItem | null => {
    if (!decided && size > 0) decide();
    let item: LineItem | null;
    if (skipping) item = null;
    else if (dropping) item = { oversized: dropped };
    else item = { line: decoder.decode(parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts, size)) };
    reset();
    return item;
  };

  const add = (bytes: Uint8Array) => {
    if (bytes.length === 0) return;
    if (!decided && !dropping && size + bytes.length >= PEEK_BYTES) decide(bytes);
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
    onChunk?.(chunk.length);
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      add(chunk.subarray(start, nl));
      const item = flush();
      if (item) yield item;
      start = nl + 1;
    }
    // Copy the remainder: the runtime may reuse the chunk's buffer.
    if (start < chunk.length) add(chunk.slice(start));
  }
  if (size > 0 || dropping) {
    const item = flush();
    if (item) yield item;
  }
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

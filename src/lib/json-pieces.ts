// JSON text in pieces: a run's answer (up to MAX_OUTPUT_SIZE of output) is stored and sent without one string of it.
import { GcPressure } from "./gc-pressure.ts";

/**
 * A top-level string longer than this is escaped a slice at a time. JSON.stringify of a 10 MiB string field
 * briefly holds twice the answer (measured: +21 MiB of RSS for a 10 MiB output, +11 MiB kept).
 */
export const PIECE_CHARS = 128 * 1024;

/**
 * Each slice is garbage once it is written or sent, and JSC does not count it towards a collection soon
 * enough: writing a 10 MiB answer to SQLite grew RSS by 10 MiB of dead slices, streaming it by 18 MiB.
 * Slices made count like bytes read from an agent's pipe (GcPressure).
 */
const MADE_GC_BYTES = 2 * 1024 * 1024;
const made = new GcPressure(MADE_GC_BYTES);

/** How many collections the slices made have caused (tests). */
export const piecesCollections = (): number => made.collections;

const isHigh = (c: number) => c >= 0xd800 && c < 0xdc00;
const isLow = (c: number) => c >= 0xdc00 && c < 0xe000;

/** `JSON.stringify(text)` without its quotes, a slice at a time; a surrogate pair is never split (it would be escaped as two lone halves). */
function* quotedSlices(text: string, maxChars: number): Generator<string> {
  for (let at = 0; at < text.length; ) {
    let end = Math.min(at + maxChars, text.length);
    // A pair across the cut moves to the next slice (or, for a one-character slice, stays whole in this one).
    if (end < text.length && isHigh(text.charCodeAt(end - 1)) && isLow(text.charCodeAt(end))) end = end - 1 > at ? end - 1 : end + 1;
    made.add(end - at);
    yield JSON.stringify(text.slice(at, end)).slice(1, -1);
    at = end;
  }
}

/**
 * `JSON.stringify(value)` as pieces whose concatenation is exactly that text. A plain object's long string
 * fields are cut into escaped slices of at most `maxChars` characters (before escaping); everything else is
 * serialised as a whole. An object without such a field is one piece: `JSON.stringify(value)` itself.
 * Lazy: a piece is made when it is asked for.
 */
export function* jsonPieces(value: object, maxChars = PIECE_CHARS): Generator<string> {
  const proto: unknown = Object.getPrototypeOf(value);
  const plain = (proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== "function";
  const entries = plain ? Object.entries(value) : [];
  if (!entries.some(([, v]) => typeof v === "string" && v.length > maxChars)) {
    yield JSON.stringify(value);
    return;
  }
  // Short fields gather into the piece before the next long one, so pieces are not a field each.
  let pending = "{";
  let first = true;
  for (const [key, v] of entries) {
    const long = typeof v === "string" && v.length > maxChars ? v : null;
    const text = long === null ? (JSON.stringify(v) as string | undefined) : "";
    // What JSON.stringify leaves out of an object (undefined, functions, symbols) is left out here too.
    if (text === undefined) continue;
    pending += `${first ? "" : ","}${JSON.stringify(key)}:`;
    first = false;
    if (long === null) {
      pending += text;
      continue;
    }
    yield `${pending}"`;
    yield* quotedSlices(long, maxChars);
    pending = '"';
  }
  yield `${pending}}`;
}

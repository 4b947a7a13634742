// The agent's text parts kept up to the output cap, and the output they make — built once, in one copy.

/** UTF-8 length of one UTF-16 code unit at `i` (a surrogate pair counts 4 for its first unit; a lone surrogate 3, as U+FFFD). */
function unitBytes(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d < 0xe000) return 4;
  }
  return 3;
}

/**
 * Cuts `text` to at most `maxBytes` of UTF-8 without splitting a character, and says how many bytes it kept.
 * Counts in place: encoding the text only to measure it would be one more copy of it.
 */
export function cutUtf8(text: string, maxBytes: number): { text: string; bytes: number } {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const n = unitBytes(text, i);
    if (bytes + n > maxBytes) return { text: text.slice(0, i), bytes };
    bytes += n;
    if (n === 4) i++;
  }
  return { text, bytes };
}

interface Part {
  text: string;
  bytes: number;
}

export class KeptText {
  private readonly parts = new Map<string, Part>();
  /** What compact() left of the parts before. */
  private base: Part | null = null;
  /** UTF-8 bytes of the parts as kept (before trimming). */
  private bytes = 0;
  private cut = false;
  private built: { output: string; truncated: boolean } | null = null;

  constructor(private readonly maxBytes: number) {}

  /** Whether the cap was hit: nothing more is kept. */
  get full(): boolean {
    return this.cut;
  }

  /** Marks the output cut without a part (a line too long to read). */
  markCut(): void {
    this.cut = true;
    this.built = null;
  }

  /**
   * The output, with the parts replaced by it: it becomes the only copy of them. Called when the agent is done;
   * a part that still came would follow it as a new part (replacing an earlier one by its id no longer can).
   */
  compact(): { output: string; truncated: boolean } {
    const built = this.output();
    this.parts.clear();
    this.base = built.output === "" ? null : { text: built.output, bytes: Buffer.byteLength(built.output) };
    this.bytes = this.base?.bytes ?? 0;
    this.cut ||= built.truncated;
    return built;
  }

  /** Keeps what fits of one part (replacing an earlier one with the same id); returns what was kept. */
  add(id: string, text: string): string {
    // Once the cap is hit the output ends there: a later fragment would read as if it followed on.
    if (this.cut) return "";
    const previous = this.parts.get(id);
    if (previous !== undefined) this.bytes -= previous.bytes;
    const room = Math.max(0, this.maxBytes - this.bytes);
    let kept: Part = { text, bytes: Buffer.byteLength(text) };
    if (kept.bytes > room) {
      kept = cutUtf8(text, room);
      this.cut = true;
    }
    if (kept.text !== "" || previous !== undefined) this.parts.set(id, kept);
    this.bytes += kept.bytes;
    this.built = null;
    return kept.text;
  }

  /**
   * The parts, trimmed, one per line, at most the cap long (the separators count too). Parts are cut before
   * they are joined, so the join is the only copy; it is kept until a part changes.
   */
  output(): { output: string; truncated: boolean } {
    if (this.built) return this.built;
    const pieces: string[] = [];
    let total = 0;
    let over = false;
    for (const part of this.base ? [this.base, ...this.parts.values()] : this.parts.values()) {
      const text = part.text.trimEnd();
      if (text === "") continue;
      const sep = pieces.length > 0 ? 1 : 0;
      const bytes = text.length === part.text.length ? part.bytes : Buffer.byteLength(text);
      if (total + sep + bytes > this.maxBytes) {
        over = true;
        // The separator alone may still fit: the cut output then ends with it, as a cut of the joined text would.
        if (total + sep <= this.maxBytes) pieces.push(cutUtf8(text, this.maxBytes - total - sep).text);
        break;
      }
      pieces.push(text);
      total += sep + bytes;
    }
    this.built = { output: pieces.join("\n"), truncated: this.cut || over };
    return this.built;
  }
}

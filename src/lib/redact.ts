// Scrubs known secret values out of any text before it leaves the process (logs, answers, events).

const MIN_SECRET_LENGTH = 6;
export const REDACTED = "[REDACTED]";

export class Redactor {
  private secrets: string[] = [];

  constructor(secrets: Iterable<string> = []) {
    this.add(...secrets);
  }

  /** Registers more secret values; values too short to be told apart from ordinary text are ignored. */
  add(...values: string[]): void {
    const next = new Set(this.secrets);
    for (const v of values) if (typeof v === "string" && v.length >= MIN_SECRET_LENGTH) next.add(v);
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...next].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.secrets.length;
  }

  /** The text with every secret replaced; the text itself (no copy) when it holds none. */
  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.replaceAll(s, REDACTED);
    return out;
  }

  /**
   * For a text cut at a cap (the output at MAX_OUTPUT_SIZE), which may end in the first part of a secret:
   * that part is replaced too, when it is long enough to tell apart from ordinary text. Only for a text
   * that was cut: an uncut one ending in a word a secret happens to start with is left as it is.
   */
  redactCut(text: string): string {
    return this.cutTail(this.redact(text));
  }

  private cutTail(text: string): string {
    for (const s of this.secrets) {
      const head = s.slice(0, MIN_SECRET_LENGTH);
      const from = Math.max(0, text.length - s.length + 1);
      for (let at = text.indexOf(head, from); at !== -1; at = text.indexOf(head, at + 1)) {
        if (s.startsWith(text.slice(at))) return text.slice(0, at) + REDACTED;
      }
    }
    return text;
  }

  /**
   * Redacts every string inside a JSON-like value. What holds no secret is returned as it is, not copied:
   * a run's answer (up to MAX_OUTPUT_SIZE of output) passes through here.
   */
  redactDeep<T>(value: T): T {
    if (this.secrets.length === 0) return value;
    return this.walk(value) as T;
  }

  private walk(value: unknown): unknown {
    if (typeof value === "string") return this.redact(value);
    if (Array.isArray(value)) {
      let out: unknown[] | null = null;
      value.forEach((v: unknown, i) => {
        const w = this.walk(v);
        if (w !== v) (out ??= [...value])[i] = w;
      });
      return out ?? value;
    }
    if (value && typeof value === "object") {
      // Anything but a plain object becomes one (its own fields): a toJSON (a URL's) must not bring back what was redacted.
      const proto: unknown = Object.getPrototypeOf(value);
      const plain = proto === Object.prototype || proto === null;
      let out: Record<string, unknown> | null = plain ? null : {};
      for (const [k, v] of Object.entries(value)) {
        const w = this.walk(v);
        if (w !== v || !plain) (out ??= { ...value })[k] = w;
      }
      return out ?? value;
    }
    return value;
  }
}

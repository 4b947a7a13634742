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

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.replaceAll(s, REDACTED);
    return out;
  }

  /** Redacts every string inside a JSON-like value, returning a new value. */
  redactDeep<T>(value: T): T {
    if (this.secrets.length === 0) return value;
    return this.walk(value) as T;
  }

  private walk(value: unknown): unknown {
    if (typeof value === "string") return this.redact(value);
    if (Array.isArray(value)) return value.map((v) => this.walk(v));
    if (value && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.walk(v);
      return out;
    }
    return value;
  }
}

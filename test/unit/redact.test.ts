// Secret redaction in text and nested values.
import { expect, test } from "bun:test";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";

test("replaces every occurrence, longest secret first", () => {
  const r = new Redactor(["secret-abc", "secret-abc-def"]);
  expect(r.redact("a secret-abc-def b secret-abc")).toBe("a [REDACTED] b [REDACTED]");
});

test("ignores values too short to redact safely", () => {
  const r = new Redactor(["", "abc", "12345"]);
  expect(r.size).toBe(0);
  expect(r.redact("abc 12345")).toBe("abc 12345");
});

test("redactDeep walks objects and arrays", () => {
  const r = new Redactor(["tok-123456"]);
  expect(r.redactDeep({ a: ["x tok-123456", 5], b: { c: "tok-123456" }, d: null })).toEqual({ a: ["x [REDACTED]", 5], b: { c: "[REDACTED]" }, d: null });
});

test("log lines are redacted before JSON encoding, so quotes and backslashes in a secret do not hide it", () => {
  const secret = 'pa"ss\\word-xyz';
  const lines: string[] = [];
  const log = createLogger({ level: "info", redactor: new Redactor([secret]), sink: (l) => lines.push(l) });
  log.info(`failed with ${secret}`, { detail: { nested: secret } });
  log.debug("filtered out");
  expect(lines).toHaveLength(1);
  const record = JSON.parse(lines[0] as string);
  expect(record).toEqual({ time: expect.any(String), level: "info", msg: "failed with [REDACTED]", detail: { nested: "[REDACTED]" } });
});

test("a text cut at a cap that ends in the first part of a secret: that part is redacted too, a short one is not", () => {
  const secret = "sk-live-0123456789abcdef";
  const r = new Redactor([secret]);
  // What MAX_OUTPUT_SIZE cut in the middle of the secret: 12 of its 24 characters would be left.
  expect(r.redactCut(`output… ${secret.slice(0, 12)}`)).toBe("output… [REDACTED]");
  expect(r.redactCut(`${secret} and ${secret.slice(0, 6)}`)).toBe("[REDACTED] and [REDACTED]");
  // Five characters cannot be told apart from ordinary text (the same bound as for whole secrets).
  expect(r.redactCut(`ends in ${secret.slice(0, 5)}`)).toBe(`ends in ${secret.slice(0, 5)}`);
  // Not at the end: not a cut secret.
  expect(r.redactCut(`${secret.slice(0, 12)} then more`)).toBe(`${secret.slice(0, 12)} then more`);
});

test("an uncut text that ends in the first part of a secret is left as it is (only a text cut at the cap can hold a cut secret)", () => {
  const r = new Redactor(["binary-token-0123456789"]);
  // A real run's output, which happened to end in the word a secret starts with (it was "[REDACTED]").
  expect(r.redact("tool said from-the-binary")).toBe("tool said from-the-binary");
  expect(r.redactDeep({ output: "tool said from-the-binary" })).toEqual({ output: "tool said from-the-binary" });
  expect(r.redactCut("tool said from-the-binary")).toBe("tool said from-the-[REDACTED]");
});

test("redactDeep returns plain values that hold no secret as they are (no copy of a large answer), and copies what changed", () => {
  const r = new Redactor(["tok-123456"]);
  const answer = { output: "x".repeat(1000), tools: [{ title: "ls" }], usage: { cost: 0 } };
  expect(r.redactDeep(answer)).toBe(answer);
  const mixed = { clean: { a: "b" }, dirty: ["tok-123456", "ok"] };
  const out = r.redactDeep(mixed);
  expect(out).toEqual({ clean: { a: "b" }, dirty: ["[REDACTED]", "ok"] });
  expect(out.clean).toBe(mixed.clean);
  expect(mixed.dirty).toEqual(["tok-123456", "ok"]);
  // Anything but a plain object still becomes one: a URL's toJSON would bring its secret back.
  expect(JSON.stringify(r.redactDeep({ u: new URL("https://h/?k=tok-123456") }))).toBe('{"u":{}}');
});

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

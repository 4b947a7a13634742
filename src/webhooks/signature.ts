// Signs webhook bodies the way GitHub's X-Hub-Signature-256 does, so receivers can reuse their existing verifiers.
import { createHmac, timingSafeEqual } from "node:crypto";

const PREFIX = "sha256=";

/** "sha256=" + lower-case hex HMAC-SHA256 of the exact bytes sent. */
export function signatureOf(secret: string, body: string): string {
  return PREFIX + createHmac("sha256", secret).update(body, "utf8").digest("hex");
}

/** Whether `header` is the signature of `body` under `secret`; the comparison takes the same time wherever they differ. */
export function verifySignature(secret: string, body: string, header: string | null | undefined): boolean {
  if (typeof header !== "string" || !header.startsWith(PREFIX)) return false;
  const expected = Buffer.from(signatureOf(secret, body), "utf8");
  const given = Buffer.from(header, "utf8");
  // timingSafeEqual throws on unequal lengths; the length of a valid signature is public anyway.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

// The building blocks of the environment schema: trimmed optional text, a parsed value with its documented default, positive numbers.
import { z } from "zod";

export const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

export function withDefault<T>(parse: (raw: string) => T | null, fallback: string, expected: string) {
  return optionalText.transform((raw, ctx) => {
    const value = parse(raw ?? fallback);
    if (value === null) {
      ctx.addIssue({ code: "custom", message: expected });
      return z.NEVER;
    }
    return value;
  });
}

export function positive(n: number | null): number | null {
  return n !== null && n > 0 ? n : null;
}

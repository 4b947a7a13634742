// Gives every documented JSON answer examples of its own status: error codes that map to it, in the shapes its schema allows.
import { ERROR_CODES, type ErrorCode } from "../errors.ts";
import { ERROR_STATUS } from "./status.ts";
import { ERROR_EXAMPLES, errorExample } from "./error-model.ts";

const COMPONENTS = "#/components/schemas/";

export type ExampleValue = Record<string, unknown>;
export interface NamedExample {
  summary: string;
  value: ExampleValue;
}

/** Example answers in one component schema's shape, by error code; null where that shape never carries the code. */
export type ExampleBuilders = Record<string, (code: ErrorCode) => ExampleValue | null>;

/** A bare Error carries every code but the outcomes of a run that started (those come as RunFailure). */
export const ERROR_SHAPE: ExampleBuilders = { Error: (code) => (ERROR_EXAMPLES[code].run ? null : errorExample(code)) };

type MediaType = { schema?: unknown; example?: unknown; examples?: Record<string, NamedExample> };

/** The component schemas a response's schema names: one $ref, or an anyOf/oneOf of $refs. */
export function schemaRefs(schema: unknown): string[] {
  if (!schema || typeof schema !== "object") return [];
  const s = schema as { $ref?: unknown; anyOf?: unknown; oneOf?: unknown };
  if (typeof s.$ref === "string" && s.$ref.startsWith(COMPONENTS)) return [s.$ref.slice(COMPONENTS.length)];
  const parts = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : [];
  return parts.flatMap(schemaRefs);
}

/** Every code ERROR_STATUS maps to `status`, as an example in each shape the schema allows that carries it. */
export function errorExamplesFor(status: number, schema: unknown, builders: ExampleBuilders): NamedExample[] {
  const refs = schemaRefs(schema);
  const out: NamedExample[] = [];
  for (const code of ERROR_CODES.filter((c) => ERROR_STATUS[c] === status)) {
    for (const ref of refs) {
      const value = builders[ref]?.(code);
      if (value) out.push({ summary: refs.length > 1 ? `${code} (${ref})` : code, value });
    }
  }
  return out;
}

function keyed(examples: readonly NamedExample[]): Record<string, NamedExample> {
  const out: Record<string, NamedExample> = {};
  examples.forEach((example, i) => {
    const base = example.summary.replace(/[^\w-]+/g, "_").replace(/^_+|_+$/g, "") || `example${i + 1}`;
    let key = base;
    for (let n = 2; key in out; n++) key = `${base}_${n}`;
    out[key] = example;
  });
  return out;
}

/**
 * Sets `examples` on each JSON answer of an operation: `explicit` for a status when given, else, for an error
 * status, one per code that maps to it. Idempotent (the generated document is cached and this runs per request).
 */
export function applyResponseExamples(
  responses: Record<string, Record<string, unknown>>,
  explicit: Partial<Record<number, readonly NamedExample[]>>,
  builders: ExampleBuilders,
): void {
  for (const [status, response] of Object.entries(responses)) {
    const media = (response.content as Record<string, MediaType> | undefined)?.["application/json"];
    if (!media) continue;
    const examples = explicit[Number(status)] ?? (Number(status) >= 400 ? errorExamplesFor(Number(status), media.schema, builders) : []);
    if (examples.length > 0) media.examples = keyed(examples);
  }
}

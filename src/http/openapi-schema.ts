// Converts zod schemas to OpenAPI 3.1 schema objects whose named parts live in components.schemas.
import { z } from "zod";

const COMPONENTS = "#/components/schemas/";
type JsonSchema = Record<string, unknown>;

function relink(json: JsonSchema): JsonSchema {
  // zod emits named sub-schemas as local $defs; in an OpenAPI document they are components.
  const text = JSON.stringify(json).replaceAll('"#/$defs/', `"${COMPONENTS}`);
  const out = JSON.parse(text) as JsonSchema;
  delete out.$schema;
  delete out.$defs;
  delete out.$id;
  return out;
}

/**
 * A field parsed on the way in (a repository string becomes a URL) is described as clients send it:
 * the JSON Schema of the transform's input.
 */
function describeTransforms(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  const def = (ctx.zodSchema as { _zod?: { def?: { type?: string; in?: z.ZodType; out?: { _zod?: { def?: { type?: string } } } } } })._zod?.def;
  if (def?.type !== "pipe" || def.out?._zod?.def?.type !== "transform" || !def.in) return;
  const input = z.toJSONSchema(def.in, { unrepresentable: "any" }) as JsonSchema;
  delete input.$schema;
  Object.assign(ctx.jsonSchema, input);
}

const options = { io: "output", unrepresentable: "any", override: describeTransforms } as const;

/** A schema object for use inside an operation: a $ref when the schema has an id. */
export function openApiSchema(schema: z.ZodType): JsonSchema {
  const id = z.globalRegistry.get(schema)?.id;
  if (id) return { $ref: `${COMPONENTS}${id}` };
  return relink(z.toJSONSchema(schema, options) as JsonSchema);
}

/** Every schema registered with an id, for components.schemas. */
export function componentSchemas(): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, { ...options, uri: (id) => `${COMPONENTS}${id}` });
  return Object.fromEntries(Object.entries(schemas).map(([id, s]) => [id, relink(s as JsonSchema)]));
}

// OpenAPI 3.1 generated from the zod schemas, and Swagger UI served entirely from this binary (works offline).
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import swaggerJs from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import { z } from "zod";
import { AppError } from "../errors.ts";
import { componentSchemas, openApiSchema } from "./openapi-schema.ts";

export const DOCS_PATH = "/swagger";
export const SPEC_PATH = "/swagger/json";
const ASSETS = {
  "swagger-ui-bundle.js": { file: swaggerJs, type: "text/javascript; charset=utf-8" },
  "swagger-ui.css": { file: swaggerCss, type: "text/css; charset=utf-8" },
} as const;

export const SECURITY: Record<string, string[]>[] = [{ bearer: [] }, { apiKeyHeader: [] }, { apiKeyAuthorization: [] }];

export interface OperationDoc {
  /** Replaces the generated request body (the generator cannot see media types our own parser reads). */
  requestBody?: Record<string, unknown>;
  /** One sentence per status code; the generator only writes "Response for status N". */
  responses?: Record<number, string>;
  /** Whole response objects, for answers that are not JSON (e.g. text/event-stream). */
  addResponses?: Record<number, Record<string, unknown>>;
}

/** Documentation the generator cannot derive, keyed "METHOD /path". */
export type OperationDocs = Record<string, OperationDoc>;

type Operation = { requestBody?: unknown; responses?: Record<string, Record<string, unknown>> };
type SpecDocument = { paths?: Record<string, Record<string, Operation>> };

function applyDocs(spec: SpecDocument, docs: OperationDocs): void {
  for (const [key, doc] of Object.entries(docs)) {
    const [method, path] = key.split(" ") as [string, string];
    const operation = spec.paths?.[path]?.[method.toLowerCase()];
    if (!operation) continue;
    if (doc.requestBody) operation.requestBody = doc.requestBody;
    operation.responses ??= {};
    for (const [status, response] of Object.entries(doc.addResponses ?? {})) operation.responses[status] = response;
    for (const [status, description] of Object.entries(doc.responses ?? {})) {
      const response = operation.responses[status];
      if (response) response.description = description;
    }
  }
}

export function docs(version: string, operationDocs: OperationDocs = {}) {
  return new Elysia({ name: "docs" })
    .onAfterHandle(({ path, responseValue }) => {
      if (path === SPEC_PATH && responseValue && typeof responseValue === "object") applyDocs(responseValue as SpecDocument, operationDocs);
    })
    .use(
      openapi({
        path: DOCS_PATH,
        specPath: SPEC_PATH,
        provider: "swagger-ui",
        // zod is the single source of truth: its own JSON Schema conversion feeds the spec.
        mapJsonSchema: { zod: openApiSchema },
        swagger: {
          cdn: `${DOCS_PATH}/assets/swagger-ui-bundle.js`,
          theme: `${DOCS_PATH}/assets/swagger-ui.css`,
          persistAuthorization: true,
        },
        documentation: {
          info: {
            title: "opencode-server",
            version,
            description:
              "Runs the opencode coding agent over HTTP. Send a prompt to POST /run; get the agent's output, usage and timing back as JSON.",
          },
          tags: [
            { name: "run", description: "Run the agent" },
            { name: "system", description: "Health and documentation" },
          ],
          components: {
            schemas: componentSchemas(),
            securitySchemes: {
              bearer: { type: "http", scheme: "bearer", description: "Authorization: Bearer <API_KEY>" },
              apiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key", description: "X-API-Key: <API_KEY>" },
              apiKeyAuthorization: {
                type: "apiKey",
                in: "header",
                name: "Authorization",
                description: "Authorization: Api-Key <API_KEY> (the whole header value, scheme included)",
              },
            },
          },
        },
      }),
    )
    .get(
      `${DOCS_PATH}/assets/:name`,
      ({ params }) => {
        const asset = ASSETS[params.name as keyof typeof ASSETS];
        if (!asset) throw new AppError("not_found", "No such documentation asset");
        return new Response(Bun.file(asset.file), {
          headers: { "content-type": asset.type, "cache-control": "public, max-age=86400" },
        });
      },
      { detail: { hide: true } },
    );
}

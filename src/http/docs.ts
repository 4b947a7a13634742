// OpenAPI 3.1 generated from the zod schemas, and Swagger UI served entirely from this binary (works offline) under a strict CSP.
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import favicon from "swagger-ui-dist/favicon-32x32.png" with { type: "file" };
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import swaggerJs from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import { z } from "zod";
import { AppError } from "../errors.ts";
import { PAGE_HEADERS } from "./page-headers.ts";
import { componentSchemas, openApiSchema } from "./openapi-schema.ts";
import { applyResponseExamples, ERROR_SHAPE, type ExampleBuilders, type NamedExample } from "./response-examples.ts";

export const DOCS_PATH = "/swagger";
export const SPEC_PATH = "/swagger/json";
/** Browsers ask for it on their own (the page names no icon): public with the docs, so the page logs no 401. */
export const FAVICON_PATH = "/favicon.ico";
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
  /** Example answers for a status, instead of the ones built from ERROR_EXAMPLES (error statuses) or none (the schema's own). */
  examples?: Partial<Record<number, readonly NamedExample[]>>;
}

/** Documentation the generator cannot derive, keyed "METHOD /path". */
export type OperationDocs = Record<string, OperationDoc>;

type Operation = { requestBody?: unknown; responses?: Record<string, Record<string, unknown>> };
type SpecDocument = { paths?: Record<string, Record<string, Operation>> };

function applyDocs(spec: SpecDocument, docs: OperationDocs, builders: ExampleBuilders): void {
  for (const [path, operations] of Object.entries(spec.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      const doc = docs[`${method.toUpperCase()} ${path}`] ?? {};
      if (doc.requestBody) operation.requestBody = doc.requestBody;
      operation.responses ??= {};
      for (const [status, response] of Object.entries(doc.addResponses ?? {})) operation.responses[status] = response;
      for (const [status, description] of Object.entries(doc.responses ?? {})) {
        const response = operation.responses[status];
        if (response) response.description = description;
      }
      applyResponseExamples(operation.responses, doc.examples ?? {}, builders);
    }
  }
}

// The plugin's own page starts Swagger UI from an inline script (and styles inline): a strict CSP forbids both,
// so the page is ours, and the start-up is a file. An absolute spec path works from /swagger and /swagger/ alike.
const INIT_JS = `window.ui = SwaggerUIBundle(${JSON.stringify({ dom_id: "#swagger-ui", url: SPEC_PATH, persistAuthorization: true })});\n`;
const PAGE =
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
  `<title>opencode-server API</title><link rel="stylesheet" href="${DOCS_PATH}/assets/swagger-ui.css"></head>` +
  `<body><div id="swagger-ui"></div><script src="${DOCS_PATH}/assets/swagger-ui-bundle.js"></script><script src="${DOCS_PATH}/assets/init.js"></script></body></html>`;

const page = () => new Response(PAGE, { headers: { ...PAGE_HEADERS, "content-type": "text/html; charset=utf-8" } });

/** `examples`: how each component schema an error status uses looks for a code (Error is built in). */
export function docs(version: string, operationDocs: OperationDocs = {}, examples: ExampleBuilders = {}) {
  const builders = { ...ERROR_SHAPE, ...examples };
  // Converted when the spec is first asked for: every registered schema through toJSONSchema took 6–11 ms of each start (bench 6).
  let schemas: ReturnType<typeof componentSchemas> | undefined;
  return new Elysia({ name: "docs" })
    .onAfterHandle(({ path, responseValue }) => {
      if (path === SPEC_PATH && responseValue && typeof responseValue === "object") applyDocs(responseValue as SpecDocument, operationDocs, builders);
    })
    .use(
      openapi({
        path: DOCS_PATH,
        specPath: SPEC_PATH,
        // The page is served below; the plugin serves the spec only.
        provider: null,
        // zod is the single source of truth: its own JSON Schema conversion feeds the spec.
        mapJsonSchema: { zod: openApiSchema },
        documentation: {
          info: {
            title: "opencode-server",
            version,
            description:
              "Runs the opencode coding agent over HTTP. Send a prompt to POST /run; get the agent's output, usage and timing back as JSON.",
            license: { name: "MIT", identifier: "MIT" },
          },
          // Relative: "Try it out" calls whichever host and port served this document.
          servers: [{ url: "/", description: "This server" }],
          tags: [
            { name: "run", description: "Run the agent" },
            { name: "system", description: "Health and documentation" },
          ],
          components: {
            get schemas() {
              return (schemas ??= componentSchemas());
            },
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
    .get(DOCS_PATH, page, { detail: { hide: true } })
    .get(`${DOCS_PATH}/`, page, { detail: { hide: true } })
    .get(
      `${DOCS_PATH}/assets/:name`,
      ({ params }) => {
        const headers = { ...PAGE_HEADERS, "cache-control": "public, max-age=86400" };
        if (params.name === "init.js") return new Response(INIT_JS, { headers: { ...headers, "content-type": "text/javascript; charset=utf-8" } });
        const asset = ASSETS[params.name as keyof typeof ASSETS];
        if (!asset) throw new AppError("not_found", "No such documentation asset");
        return new Response(Bun.file(asset.file), { headers: { ...headers, "content-type": asset.type } });
      },
      { detail: { hide: true } },
    )
    .get(FAVICON_PATH, () => new Response(Bun.file(favicon), { headers: { "content-type": "image/png", "cache-control": "public, max-age=86400" } }), {
      detail: { hide: true },
    });
}

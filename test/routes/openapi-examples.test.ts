// The OpenAPI examples are true: each status shows answers of its own codes in its own shape, and request examples run as given.
import { describe, expect, test } from "bun:test";
import net from "node:net";
import { z } from "zod";
import type { ErrorCode } from "../../src/errors.ts";
import { ERROR_STATUS } from "../../src/http/status.ts";
import { ErrorResponse } from "../../src/http/error-model.ts";
import { HealthResponse } from "../../src/modules/health/model.ts";
import { FollowUpRequest, RunFailure, RunRequest, RunSuccess } from "../../src/modules/run/model.ts";
import { RunCreated, RunList, RunView } from "../../src/modules/runs/model.ts";
import { testApp } from "../support/app.ts";
import { FakeRunner } from "../support/fake-runner.ts";
import { startTestServer } from "../support/server.ts";
import { tempDir } from "../support/temp.ts";

type Media = { schema?: unknown; example?: unknown; examples?: Record<string, { summary?: string; value: unknown }> };
type Operation = { requestBody?: { content: Record<string, Media> }; responses: Record<string, { content?: Record<string, Media> }> };
type Spec = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, { examples?: unknown[] }> } };

const KEY = "openapi-examples-key-0123456789";
// Like opencode on a server with one model: a request example that names another fails (500), as it would in Swagger.
const t = testApp({ apiKeys: [KEY], runner: new FakeRunner((input) => (input.model === "fake/default" ? { output: "ok" } : { exitCode: 1, error: "Model not found" })) });
const spec = (await (await t.request("/swagger/json")).json()) as Spec;

/** Every schema the document names, for checking examples against the very zod schemas the server validates with. */
const SCHEMAS = Object.fromEntries(
  [ErrorResponse, RunFailure, RunSuccess, RunRequest, HealthResponse, RunCreated, RunView, RunList].map((s) => [z.globalRegistry.get(s)?.id, s.strict()]),
) as Record<string, z.ZodType>;

/** The component schemas a response's schema names: one $ref, or an anyOf/oneOf of them. */
function schemaRefs(schema: unknown): string[] {
  const s = (schema ?? {}) as { $ref?: string; anyOf?: unknown[]; oneOf?: unknown[] };
  if (s.$ref) return [s.$ref.replace("#/components/schemas/", "")];
  return (s.anyOf ?? s.oneOf ?? []).flatMap(schemaRefs);
}

function operations(): [string, Operation][] {
  return Object.entries(spec.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]));
}

/** The problems with `value` as an answer documented by `schema`: none when one of the schemas it names accepts it exactly. */
function shapeProblems(value: unknown, schema: unknown): string[] {
  const refs = schemaRefs(schema);
  if (refs.length === 0) return ["the response schema names no component"];
  const results = refs.map((ref) => SCHEMAS[ref]?.safeParse(value) ?? { success: false as const, error: new Error(`no zod schema for ${ref}`) });
  if (results.some((r) => r.success)) return [];
  return results.map((r, i) => `${refs[i]}: ${r.error?.message}`);
}

describe("response examples", () => {
  test("every error status of every operation shows examples whose code ERROR_STATUS maps to that status, in that response's shape", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const [name, op] of operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        const media = response.content?.["application/json"];
        if (Number(status) < 400 || !media) continue;
        const examples = Object.entries(media.examples ?? {});
        if (examples.length === 0) problems.push(`${name} ${status}: no examples`);
        // An error answer carries a code; /health's 503 is a Health answer (status shutting_down, checked below).
        const errorShaped = schemaRefs(media.schema).every((ref) => ref === "Error" || ref === "RunFailure");
        for (const [key, { value }] of examples) {
          checked++;
          const code = (value as { code?: ErrorCode }).code;
          if (errorShaped && (!code || ERROR_STATUS[code] !== Number(status))) problems.push(`${name} ${status} ${key}: code ${code} answers ${code ? ERROR_STATUS[code] : "nothing"}`);
          for (const p of shapeProblems(value, media.schema)) problems.push(`${name} ${status} ${key}: ${p}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(40);
  });

  test("success examples, and every component's own examples, match their schemas exactly", () => {
    const problems: string[] = [];
    for (const [name, op] of operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        const media = response.content?.["application/json"];
        for (const [key, { value }] of Object.entries(media?.examples ?? {})) {
          for (const p of shapeProblems(value, media?.schema)) problems.push(`${name} ${status} ${key}: ${p}`);
        }
      }
    }
    for (const [id, schema] of Object.entries(spec.components.schemas)) {
      (schema.examples ?? []).forEach((value, i) => {
        const result = SCHEMAS[id]?.safeParse(value);
        if (result && !result.success) problems.push(`components.schemas.${id}.examples[${i}]: ${result.error.message}`);
      });
    }
    expect(problems).toEqual([]);
  });

  test("GET /health shows a healthy 200, and shutting_down and degraded 503s", () => {
    const health = spec.paths["/health"]?.get?.responses ?? {};
    expect(spec.components.schemas.Health?.examples?.[0]).toMatchObject({ status: "healthy" });
    expect(Object.values(health["503"]?.content?.["application/json"]?.examples ?? {}).map((e) => (e.value as { status: string }).status)).toEqual(["shutting_down", "degraded"]);
  });

  test("GET /health's documented 400 is real: a request without a Host header", async () => {
    const s = await startTestServer(
      { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir("ocs-examples-home-"), HOST: "127.0.0.1", PORT: "0", WORK_DIR: tempDir("ocs-examples-work-"), LOG_LEVEL: "error" },
      { runner: new FakeRunner(), opencodeVersion: "9.9.9" },
    );
    try {
      const raw = await new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = net.connect(s.server.port, "127.0.0.1", () => socket.write("GET /health HTTP/1.0\r\n\r\n"));
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("end", () => resolve(Buffer.concat(chunks).toString()));
        socket.on("error", reject);
      });
      expect(raw).toStartWith("HTTP/1.1 400");
      expect(JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4))).toMatchObject({ code: "invalid_request", error: "Missing or invalid Host header" });
    } finally {
      await s.stop();
    }
  });
});

describe("request examples", () => {
  const sent = operations().flatMap(([name, op]) =>
    Object.entries(op.requestBody?.content ?? {}).flatMap(([type, media]) => [
      ...(media.example === undefined ? [] : [{ name, type, key: "example", value: media.example }]),
      ...Object.entries(media.examples ?? {}).map(([key, e]) => ({ name, type, key, value: e.value })),
      // Without media-type examples Swagger fills "Try it out" from the schema's own.
      ...schemaRefs(media.schema).flatMap((ref) => (spec.components.schemas[ref]?.examples ?? []).map((value, i) => ({ name, type, key: `${ref}#${i}`, value }))),
    ]),
  );
  const repositoryless = (value: unknown) => typeof value === "string" || !(value as { repository?: string }).repository;

  test("are documented for every operation with a body, the first of each a plain prompt (Try it out sends it)", () => {
    expect(sent.map((s) => `${s.name} ${s.type} ${s.key}`)).toEqual([
      "POST /run application/json prompt",
      "POST /run application/json repository",
      "POST /run application/json RunRequest#0",
      "POST /run application/json RunRequest#1",
      "POST /run text/plain example",
      "POST /runs application/json prompt",
      "POST /runs application/json repository",
      "POST /runs application/json RunRequest#0",
      "POST /runs application/json RunRequest#1",
      "POST /runs text/plain example",
      "POST /runs/{id}/messages application/json prompt",
      "POST /runs/{id}/messages application/json FollowUpRequest#0",
      "POST /runs/{id}/messages text/plain example",
    ]);
    for (const key of ["prompt", "RunRequest#0", "FollowUpRequest#0"]) expect(sent.find((s) => s.key === key)?.value).toEqual({ prompt: expect.any(String) });
    for (const s of sent) if (typeof s.value === "object") expect((s.name.includes("{id}") ? FollowUpRequest : RunRequest).safeParse(s.value).success).toBe(true);
  });

  for (const s of sent) {
    test(`${s.name} ${s.type} "${s.key}" sent as given gets no 5xx (and succeeds unless it names a repository)`, async () => {
      const [method, template] = s.name.split(" ") as [string, string];
      // A follow-up example names no run: sent to a run that does not exist, it is a documented 404.
      const path = template.replace("{id}", crypto.randomUUID());
      const body = typeof s.value === "string" ? s.value : JSON.stringify(s.value);
      const res = await t.request(path, { method, headers: { "content-type": s.type, "x-api-key": KEY }, body });
      const answer = await res.text();
      expect(`${res.status} ${answer}`).not.toMatch(/^5/);
      if (template !== path) expect(`${res.status} ${JSON.parse(answer).code}`).toBe("404 not_found");
      else if (repositoryless(s.value)) expect(`${res.status} ${answer}`).toMatch(/^20[02]/);
    });
  }
});

// Real answers conform to the published OpenAPI document: each body validates against the schema it documents for that path, method and status.
//
// The document is OpenAPI 3.1, whose schemas are JSON Schema 2020-12: validated with Ajv's 2020 dialect (ajv-formats for
// any `format`), `$ref`s to #/components/schemas resolved as #/$defs of one root, and nothing coerced or defaulted.
import { afterAll, describe, expect, test } from "bun:test";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { SPEC_PATH } from "../../src/http/docs.ts";
import { json, testApp, text, type TestApp } from "../support/app.ts";
import { FakeRunner, hangAfter } from "../support/fake-runner.ts";
import { gate } from "../support/gate.ts";
import { waitFor } from "../support/wait.ts";

type Schema = Record<string, unknown>;
type Responses = Record<string, { content?: Record<string, { schema?: Schema }> }>;
type Spec = { openapi: string; paths: Record<string, Record<string, { responses: Responses }>>; components: { schemas: Record<string, Schema> } };

const release = gate();
const t = testApp({
  runner: new FakeRunner(async (input) => {
    if (input.prompt === "fail") return { exitCode: 1, error: "APIError: Incorrect API key provided (HTTP 401)" };
    if (input.prompt === "wait") await release.promise;
    if (input.prompt === "hang") return hangAfter({ type: "text", text: "partial" })(input);
    input.onEvent({ type: "text", text: "hello" });
    return {
      output: "hello",
      sessionId: "ses_1",
      tools: [{ tool: "bash", status: "completed", title: "ls", error: null, denied: false }],
    };
  }),
});
const slow = testApp({ runner: new FakeRunner(hangAfter({ type: "text", text: "partial work" })), maxExecutionMs: 50 });
afterAll(() => {
  release.open();
  t.close();
  slow.close();
});

const spec = (await (await t.request(SPEC_PATH)).json()) as Spec;
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);

/** The same schema with every #/components/schemas/X pointing at #/$defs/X. */
function rebased(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebased);
  if (!schema || typeof schema !== "object") return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([k, v]) => [k, k === "$ref" && typeof v === "string" ? v.replace("#/components/schemas/", "#/$defs/") : rebased(v)]),
  );
}
const defs = rebased(spec.components.schemas) as Record<string, Schema>;
const validators = new Map<string, ValidateFunction>();

interface Answer {
  /** "METHOD /path" as the document names the operation, e.g. "GET /runs/{id}". */
  operation: string;
  status: number;
  body: unknown;
}
const checked: Answer[] = [];

/** What is wrong with `answer` by the document: nothing when its status is documented as JSON and its body validates. */
function problems(answer: Answer): string[] {
  const [method = "", path = ""] = answer.operation.split(" ");
  const schema = spec.paths[path]?.[method.toLowerCase()]?.responses[String(answer.status)]?.content?.["application/json"]?.schema;
  if (!schema) return [`${answer.operation} ${answer.status}: the document has no application/json schema for this answer`];
  const key = `${answer.operation} ${answer.status}`;
  const validate = validators.get(key) ?? ajv.compile({ ...(rebased(schema) as Schema), $defs: defs });
  validators.set(key, validate);
  if (validate(answer.body)) return [];
  const where = (e: ErrorObject) => `${e.instancePath || "(root)"} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`;
  return [`${answer.operation} ${answer.status}:\n  ${(validate.errors ?? []).map(where).join("\n  ")}\n  body: ${JSON.stringify(answer.body)}`];
}

/** Sends a request, records its answer for the document check, and returns it. */
async function answer(app: TestApp, operation: string, url: string, init?: RequestInit): Promise<Answer> {
  const res = await app.request(url, init);
  const a: Answer = { operation, status: res.status, body: await res.json() };
  checked.push(a);
  return a;
}

const idOf = (a: Answer) => String((a.body as { id: unknown }).id);

/** Waits (unrecorded) until the run's status is `status`. */
async function until(id: string, status: string): Promise<void> {
  await waitFor(async () => ((await (await t.request(`/runs/${id}`)).json()) as { status?: unknown }).status === status, { what: `run ${id} to be ${status}` });
}

async function finished(id: string): Promise<Answer> {
  return waitFor(async () => {
    const a = await answer(t, "GET /runs/{id}", `/runs/${id}`);
    return (a.body as { finished_at?: unknown }).finished_at ? a : null;
  }, { what: `run ${id} to finish` });
}

describe("answers match the OpenAPI document", () => {
  test("the document is OpenAPI 3.1 and names the components the answers use", () => {
    expect(spec.openapi).toStartWith("3.1.");
    expect(Object.keys(spec.components.schemas)).toEqual(expect.arrayContaining(["Error", "Health", "RunSuccess", "RunFailure", "RunCreated", "Run", "RunList"]));
  });

  test("every answer below validates against the schema of its path, method and status", async () => {
    // POST /run: success, agent failure, timeout, a validation error.
    expect((await answer(t, "POST /run", "/run", text("Write a function"))).status).toBe(200);
    expect((await answer(t, "POST /run", "/run", text("fail"))).status).toBe(500);
    expect((await answer(slow, "POST /run", "/run", text("slow"))).status).toBe(408);
    expect((await answer(t, "POST /run", "/run", json({ prompt: "p", repo: "x" }))).status).toBe(400);
    expect((await answer(t, "POST /run", "/run", json({ prompt: "p", model: "gpt" }))).status).toBe(400);

    // POST /runs (asynchronous), then the run as GET /runs/{id} shows it while running and once finished.
    const waiting = await answer(t, "POST /runs", "/runs", text("wait"));
    expect(waiting.status).toBe(202);
    await until(idOf(waiting), "running");
    expect((await answer(t, "GET /runs/{id}", `/runs/${idOf(waiting)}`)).status).toBe(200);
    release.open();
    expect((await finished(idOf(waiting))).body).toMatchObject({ status: "succeeded", result: { success: true } });

    const failing = await answer(t, "POST /runs", "/runs", text("fail"));
    expect(failing.status).toBe(202);
    expect((await finished(idOf(failing))).body).toMatchObject({ status: "failed", result: { success: false, code: "agent_failed" } });

    // A running run cancelled: DELETE answers once it has ended.
    const hanging = await answer(t, "POST /runs", "/runs", text("hang"));
    expect(hanging.status).toBe(202);
    await until(idOf(hanging), "running");
    expect((await answer(t, "DELETE /runs/{id}", `/runs/${idOf(hanging)}`, { method: "DELETE" })).status).toBe(200);

    // Lists, an unknown run, health.
    expect((await answer(t, "GET /runs", "/runs")).status).toBe(200);
    expect((await answer(t, "GET /runs", "/runs?limit=1")).status).toBe(200);
    expect((await answer(t, "GET /runs/{id}", "/runs/00000000-0000-4000-8000-000000000000")).status).toBe(404);
    expect((await answer(t, "GET /health", "/health")).status).toBe(200);

    const found = checked.flatMap(problems);
    expect(found, `answers that do not match the published OpenAPI document:\n${found.join("\n")}\n`).toEqual([]);
    expect([...new Set(checked.map((a) => `${a.operation} ${a.status}`))]).toEqual([
      "POST /run 200",
      "POST /run 500",
      "POST /run 408",
      "POST /run 400",
      "POST /runs 202",
      "GET /runs/{id} 200",
      "DELETE /runs/{id} 200",
      "GET /runs 200",
      "GET /runs/{id} 404",
      "GET /health 200",
    ]);
  });
});

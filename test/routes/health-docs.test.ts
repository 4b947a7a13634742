// GET /health and the self-hosted OpenAPI/Swagger UI documentation.
import { VERSION } from "../../src/version.ts";
import { readJson } from "../support/http.ts";
import { describe, expect, test } from "bun:test";
import { testApp, text } from "../support/app.ts";
import { hangAfter, FakeRunner } from "../support/fake-runner.ts";

describe("GET /health", () => {
  test("reports versions, runs in flight and uptime", async () => {
    const runner = new FakeRunner(hangAfter());
    const t = testApp({ runner });
    const idle = await t.request("/health");
    expect(idle.status).toBe(200);
    expect(await idle.json()).toEqual({
      status: "healthy",
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      version: VERSION,
      opencode_version: "9.9.9",
      auth: "none",
      sandbox: "off",
      network: "open",
      store: "ok",
      store_kind: "sqlite",
      replica: "test-replica",
      runs_in_flight: 0,
      runs_queued: 0,
      uptime_seconds: expect.any(Number),
    });
    const running = t.request("/run", text("x"));
    await runner.waitForCalls(1);
    expect((await readJson(await t.request("/health"))).runs_in_flight).toBe(1);
    await t.runs.beginDrain();
    const draining = await t.request("/health");
    expect(draining.status).toBe(503);
    expect((await readJson(draining)).status).toBe("shutting_down");
    t.runs.abortAll(new (await import("../../src/runs/abort.ts")).RunStopped("shutting_down", "bye"));
    await running;
  });
});

describe("documentation", () => {
  const t = testApp();

  test("the Swagger UI page references only this server's own assets, and they load", async () => {
    const res = await t.request("/swagger");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.sort()).toEqual(["/swagger/assets/init.js", "/swagger/assets/swagger-ui-bundle.js", "/swagger/assets/swagger-ui.css"]);
    expect(html).not.toMatch(/https?:\/\//);
    for (const ref of refs) {
      const asset = await t.request(ref);
      expect(asset.status).toBe(200);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(ref.endsWith("init.js") ? 50 : 10_000);
    }
    expect((await t.request("/swagger/assets/other.js")).status).toBe(404);
  });

  test("the OpenAPI 3.1 spec documents every route, body, answer and error with resolvable references", async () => {
    const spec = (await (await t.request("/swagger/json")).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> }; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(spec.openapi).toStartWith("3.1");
    expect(Object.keys(spec.paths).sort()).toEqual(["/health", "/metrics", "/run", "/runs", "/runs/{id}", "/runs/{id}/cancel", "/runs/{id}/diff", "/runs/{id}/events", "/runs/{id}/messages"]);
    expect(Object.keys(spec.paths["/runs/{id}/events"]?.get?.responses ?? {}).sort()).toEqual(["200", "400", "401", "404"]);
    const run = spec.paths["/run"]?.post;
    expect(Object.keys(run?.requestBody?.content ?? {}).sort()).toEqual(["application/json", "text/plain"]);
    expect(Object.keys(run?.responses ?? {}).sort()).toEqual(["200", "400", "401", "402", "403", "404", "408", "409", "410", "413", "415", "422", "429", "500", "502", "503"]);
    expect(Object.keys(spec.paths["/runs"]?.post?.requestBody?.content ?? {}).sort()).toEqual(["application/json", "text/plain"]);
    expect(Object.keys(spec.components.schemas).sort()).toEqual([
      "Budget",
      "Error",
      "FollowUpRequest",
      "Health",
      "Limits",
      "PullRequest",
      "Run",
      "RunCreated",
      "RunFailure",
      "RunList",
      "RunRequest",
      "RunStatus",
      "RunSuccess",
      "RunSummary",
      "Spent",
      "ToolCall",
      "Usage",
      "WebhookAttempt",
      "WebhookDelivery",
    ]);
    const text = JSON.stringify(spec);
    expect(text).not.toContain("$defs");
    for (const [, name] of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      expect(spec.components.schemas[name as string]).toBeDefined();
    }
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, response] of Object.entries(op.responses)) {
          expect(`${method} ${path} ${status}: ${(response as { description: string }).description}`).not.toContain("Response for status");
        }
      }
    }
    for (const schema of ["RunRequest", "RunSuccess", "RunFailure", "Error", "Health"]) {
      expect((spec.components.schemas[schema] as { examples?: unknown[] }).examples?.length).toBeGreaterThan(0);
    }
  });
});

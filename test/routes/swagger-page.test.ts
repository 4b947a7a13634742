// The Swagger UI page, in-process: both /swagger and /swagger/ point the UI at /swagger/json by its absolute path, under a strict CSP.
import { describe, expect, test } from "bun:test";
import { PAGE_CSP } from "../../src/http/page-headers.ts";
import { testApp, type TestApp } from "../support/app.ts";

/** The spec URL the page's start-up script hands SwaggerUIBundle (the page itself runs nothing inline). */
async function specUrlOf(t: TestApp, html: string): Promise<string> {
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)|<style|\sstyle=|\son\w+=/);
  const init = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1] as string).find((s) => s.endsWith("/init.js"));
  if (!init) throw new Error("the page does not start Swagger UI");
  const m = /SwaggerUIBundle\((\{.*?\})\)/s.exec(await (await t.request(init)).text());
  if (!m) throw new Error("init.js does not start Swagger UI");
  return (JSON.parse(m[1] as string) as { url: string }).url;
}

describe("Swagger UI page", () => {
  const t = testApp({ apiKeys: ["swagger-page-key-0123456789"] });

  for (const page of ["/swagger", "/swagger/"]) {
    test(`${page} is public and its spec URL resolves to /swagger/json, which loads`, async () => {
      const res = await t.request(page);
      expect([res.status, res.headers.get("content-security-policy")]).toEqual([200, PAGE_CSP]);
      const url = await specUrlOf(t, await res.text());
      expect(url).toBe("/swagger/json");
      // As the browser resolves it against the page's own address (a relative one broke /swagger/).
      const resolved = new URL(url, `http://localhost${page}`).pathname;
      expect(resolved).toBe("/swagger/json");
      const spec = await t.request(resolved);
      expect(spec.status).toBe(200);
      expect(((await spec.json()) as { openapi: string }).openapi).toStartWith("3.1");
    });
  }

  test("/favicon.ico, which browsers fetch for the page on their own, is public with the docs (no 401 in the console)", async () => {
    const icon = await t.request("/favicon.ico");
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toBe("image/png");
    expect((await icon.arrayBuffer()).byteLength).toBeGreaterThan(100);
    const closed = testApp({ apiKeys: ["swagger-page-key-0123456789"], docsPublic: false });
    expect((await closed.request("/favicon.ico")).status).toBe(401);
  });
});

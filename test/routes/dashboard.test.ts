// Serving the dashboard: one page for every dashboard path, content-hashed assets, gzip, caching, its CSP, and no key needed for code.
import { describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { PAGE_CSP as DASHBOARD_CSP } from "../../src/http/page-headers.ts";
import { acceptsGzip } from "../../src/modules/dashboard/index.ts";
import { testApp } from "../support/app.ts";
import { readJson } from "../support/http.ts";

const KEY = "dashboard-route-key-0123456789";

function assetsOf(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
}

describe("the dashboard's files", () => {
  test("/, /ui, /ui/ and /ui/runs/{id} without a key: one page, no inline script or style, only its own assets; the API still needs the key", async () => {
    const t = testApp({ apiKeys: [KEY] });
    const root = await t.request("/");
    expect([root.status, root.headers.get("location")]).toEqual([302, "/ui"]);
    const pages = await Promise.all(["/ui", "/ui/", "/ui/runs/0b6f3c1e-8a2d-4f5e-9c7b-1d2e3f4a5b6c"].map((p) => t.request(p)));
    const bodies = await Promise.all(pages.map((r) => r.text()));
    for (const r of pages) {
      expect(Object.fromEntries(["content-type", "content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy", "cache-control"].map((h) => [h, r.headers.get(h)]))).toEqual({
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": DASHBOARD_CSP,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
      });
    }
    expect(new Set(bodies).size).toBe(1);
    const html = bodies[0] as string;
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/\sstyle=|\son\w+=/);
    const assets = assetsOf(html);
    expect(assets.map((a) => a.replace(/\.[0-9a-z]{1,10}\./, ".HASH."))).toEqual(["/ui/assets/icon.HASH.svg", "/ui/assets/app.HASH.css", "/ui/assets/app.HASH.js"]);
    for (const a of assets) {
      const res = await t.request(a);
      expect([a, res.status, res.headers.get("cache-control"), res.headers.get("content-security-policy")]).toEqual([a, 200, "public, max-age=31536000, immutable", DASHBOARD_CSP]);
    }
    expect((await t.request("/runs")).status).toBe(401);
    await t.close();
  });

  test("gzip when the client accepts it (the same bytes once unzipped), 304 for a known ETag", async () => {
    const t = testApp();
    const html = await (await t.request("/ui")).text();
    const js = assetsOf(html).find((a) => a.endsWith(".js")) as string;
    const plain = await t.request(js);
    const body = new Uint8Array(await plain.arrayBuffer());
    const zipped = await t.request(js, { headers: { "accept-encoding": "gzip, deflate, br" } });
    expect([plain.headers.get("content-encoding"), zipped.headers.get("content-encoding"), zipped.headers.get("vary")]).toEqual([null, "gzip", "accept-encoding"]);
    const packed = new Uint8Array(await zipped.arrayBuffer());
    expect(new Uint8Array(gunzipSync(packed))).toEqual(body);
    expect(packed.length).toBeLessThan(body.length / 2);
    const again = await t.request(js, { headers: { "if-none-match": plain.headers.get("etag") as string } });
    expect([again.status, await again.text()]).toEqual([304, ""]);
    await t.close();
  });

  test.each([
    ["gzip", true],
    ["gzip, deflate, br", true],
    ["br;q=1.0, GZIP;q=0.5", true],
    ["*", true],
    ["gzip;q=0", false],
    ["gzip;q=0.0, br", false],
    ["identity", false],
    ["", false],
  ])("Accept-Encoding %p → gzip %p", (header, gzip) => {
    expect(acceptsGzip(header)).toBe(gzip);
  });

  test("an unknown asset is a JSON 404; a bundle built from web/ is served (Preact and the app's own code)", async () => {
    const t = testApp();
    const res = await t.request("/ui/assets/app.0000000000.js");
    expect([res.status, (await readJson(res)).code]).toEqual([404, "not_found"]);
    const html = await (await t.request("/ui")).text();
    const js = await (await t.request(assetsOf(html).find((a) => a.endsWith(".js")) as string)).text();
    expect(js).toContain("opencode-server.key");
    await t.close();
  });

  test("DASHBOARD=false: no /ui, and / is what it was (401 with a key configured, 404 without)", async () => {
    const keyed = testApp({ apiKeys: [KEY], env: { DASHBOARD: "false" } });
    expect([(await keyed.request("/ui")).status, (await keyed.request("/")).status]).toEqual([401, 401]);
    await keyed.close();
    const open = testApp({ env: { DASHBOARD: "false" } });
    expect([(await open.request("/ui")).status, (await open.request("/")).status]).toEqual([404, 404]);
    await open.close();
  });
});

// API-key authentication: the three header forms, key rotation, public routes, and identical refusals.
import { describe, expect, test } from "bun:test";
import { KeyRegistry } from "../../src/auth/keys.ts";
import { presentedKeys } from "../../src/http/auth.ts";
import { testApp, text } from "../support/app.ts";

const KEY = "k-0123456789abcdef-primary";
const OLD_KEY = "k-0123456789abcdef-rotated";

describe("with API_KEY set", () => {
  const t = testApp({ apiKeys: [KEY, OLD_KEY] });

  test.each([
    ["Authorization: Bearer", { authorization: `Bearer ${KEY}` }],
    ["Authorization: Api-Key", { authorization: `Api-Key ${KEY}` }],
    ["lower-case scheme", { authorization: `bearer ${KEY}` }],
    ["X-API-Key", { "x-api-key": KEY }],
    ["the second (rotated) key", { "x-api-key": OLD_KEY }],
  ])("%s is accepted", async (_name, headers) => {
    const res = await t.request("/run", text("hi", headers));
    expect(res.status).toBe(200);
  });

  const refusals: [string, Record<string, string>][] = [
    ["no credentials", {}],
    ["wrong key", { authorization: "Bearer nope" }],
    ["key one character short", { authorization: `Bearer ${KEY.slice(0, -1)}` }],
    ["key with a prefix of the real one", { "x-api-key": `${KEY}x` }],
    ["unknown scheme", { authorization: `Basic ${KEY}` }],
    ["key without scheme", { authorization: KEY }],
    ["empty X-API-Key", { "x-api-key": "" }],
  ];
  for (const [name, headers] of refusals) {
    test(`${name} → 401 with WWW-Authenticate, identical body`, async () => {
      const before = t.runner.calls.length;
      const res = await t.request("/run", text("hi", headers));
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="opencode-server", Api-Key realm="opencode-server"');
      expect(await res.json()).toEqual({
        success: false,
        code: "unauthorized",
        error: "Authentication required: send Authorization: Bearer <key>, Authorization: Api-Key <key> or X-API-Key: <key>",
        request_id: res.headers.get("x-request-id"),
      });
      expect(t.runner.calls.length).toBe(before);
    });
  }

  test("an unauthenticated request is refused before its body is read", async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(10));
        if (pulled > 5) c.close();
      },
    });
    const res = await t.request("/run", { method: "POST", headers: { "content-type": "text/plain" }, body });
    expect(res.status).toBe(401);
    expect(pulled).toBeLessThanOrEqual(1);
  });

  test("unknown routes are 401 too, so nothing is learned without a key", async () => {
    expect((await t.request("/nope")).status).toBe(401);
    expect((await t.request("/nope", { headers: { "x-api-key": KEY } })).status).toBe(404);
  });

  test("/health, /swagger, its spec and assets are public", async () => {
    for (const path of ["/health", "/swagger", "/swagger/json", "/swagger/assets/swagger-ui.css"]) {
      expect(`${path} ${(await t.request(path)).status}`).toBe(`${path} 200`);
    }
  });
});

describe("without API_KEY", () => {
  test("everything is open", async () => {
    const t = testApp();
    expect((await t.request("/run", text("hi"))).status).toBe(200);
  });
});

describe("comparison", () => {
  test("the registry compares digests of every pair and names the match", () => {
    const keys = new KeyRegistry(["a-key", "b-key"], [], null);
    const name = (presented: string[]) => {
      const m = keys.match(presented);
      return m.kind === "ok" ? m.caller.name : m.kind;
    };
    expect(name(["b-key"])).toBe("api-key-2");
    expect(name(["nope", "a-key"])).toBe("api-key-1");
    expect(name(["a-ke"])).toBe("none");
    expect(name([])).toBe("none");
  });

  test("presentedKeys reads all three forms", () => {
    const h = new Headers({ authorization: "Api-Key  one ", "x-api-key": "two" });
    expect(presentedKeys(h)).toEqual(["one", "two"]);
    expect(presentedKeys(new Headers({ authorization: "Token x" }))).toEqual([]);
  });
});

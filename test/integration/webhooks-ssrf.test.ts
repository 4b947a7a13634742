// No SSRF through a callback: the repository fuzzing's hostile URL forms, aimed at a listening loopback receiver, are refused (400/403) and never reach it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { json, testApp, type TestApp } from "../support/app.ts";
import { readJson } from "../support/http.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";
import { ALLOWED_PREFIX, badRepos, notAllowedRepos } from "../hardening/support/fuzz-requests.ts";

const SECRET = "whsec-ssrf-0c9e4a7b2d1f6e83";
let r: WebhookReceiver;
let a: TestApp;
let prefix: string;

beforeAll(async () => {
  r = await startWebhookReceiver({ secret: SECRET });
  prefix = r.url("/hooks/");
  a = testApp({ env: { WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOWED_PREFIXES: prefix } });
});

afterAll(async () => {
  await a?.close();
  await r?.stop();
});

/** The fuzz suite's forms, re-aimed from its allow-list prefix and host at this receiver's. */
const aimed = (form: string) => form.replaceAll(ALLOWED_PREFIX, prefix).replaceAll("git.example.test", `127.0.0.1:${r.port}`);

/** Loopback and internal spellings with the receiver's port: the address listens, but no prefix names it that way. */
const internal = () => [
  `http://localhost:${r.port}/hooks/x`,
  `http://[::1]:${r.port}/hooks/x`,
  `http://[::ffff:127.0.0.1]:${r.port}/hooks/x`,
  `http://[::ffff:7f00:1]:${r.port}/hooks/x`,
  `http://127.0.0.2:${r.port}/hooks/x`,
  `http://0.0.0.0:${r.port}/hooks/x`,
  `http://127.0.0.1:${r.port}/hooks/../admin`,
  `http://127.0.0.1:${r.port}/hooks/%2e%2e/admin`,
  `http://127.0.0.1:${r.port}/hooks/..%2Fadmin`,
  `http://127.0.0.1:${r.port}/hooks;/x`,
  `http://127.0.0.1:${r.port}/hooks-evil/x`,
  `http://127.0.0.1:${r.port}/hooks/x?token=1`,
  `http://127.0.0.1:${r.port}/hooks/x#f`,
  `http://u:p@127.0.0.1:${r.port}/hooks/x`,
  `http://127.0.0.1:${r.port}@evil.example/hooks/x`,
  `https://127.0.0.1:${r.port}/hooks/x`,
  `gopher://127.0.0.1:${r.port}/hooks/x`,
  `file:///etc/passwd`,
  `http://169.254.169.254/latest/meta-data/`,
];

async function verdict(url: string): Promise<number> {
  const res = await a.request("/runs", json({ prompt: "x", callback_url: url }));
  const body = await readJson(res);
  if (res.status === 400) expect(body).toMatchObject({ code: "invalid_request", field: "callback_url" });
  if (res.status === 403) expect(body.code).toBe("callback_not_allowed");
  return res.status;
}

test("every hostile form is a 400 or 403, creates no run, and the receiver sees nothing", async () => {
  const forms = [...new Set([...badRepos, ...notAllowedRepos].map(aimed)), ...internal()];
  const answers = await Promise.all(forms.map(async (f) => [f, await verdict(f)] as const));
  expect(answers.filter(([, s]) => s !== 400 && s !== 403)).toEqual([]);
  expect((await readJson(await a.request("/runs"))).runs).toEqual([]);
  expect(r.hits).toBe(0);
});

test("generated URLs around the prefix: refused, or delivered under it — never anywhere else on the listening host", async () => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.webUrl({ validSchemes: ["http", "https"], withQueryParameters: true, withFragments: true, authoritySettings: { withIPv4: true, withPort: true, withUserInfo: true } }),
        fc.string({ maxLength: 30 }).map((s) => `${prefix}${s}`),
        fc.string({ maxLength: 30 }).map((s) => `http://127.0.0.1:${r.port}/${s}`),
        fc.string({ maxLength: 12 }).map((s) => `http://${s}127.0.0.1:${r.port}/hooks/x`),
      ),
      async (url) => {
        const status = await verdict(url);
        expect([202, 400, 403]).toContain(status);
        if (status === 202) accepted++;
      },
    ),
    { numRuns: 200, seed: 17 },
  );
  await r.waitForDeliveries(accepted, 20_000);
  expect(r.deliveries.filter((d) => !d.path.startsWith("/hooks/"))).toEqual([]);
  expect(r.deliveries.every((d) => d.signatureValid)).toBe(true);
});

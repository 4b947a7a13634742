// Hostile requests to POST /run and /runs for the fuzz suite, each built from parts whose verdict is known by construction.
import fc from "fast-check";

/** The two API keys the fuzzed server accepts (rotation: both are valid). */
export const KEY = "fz-key-7f3a9c0e51b84d2a96e1c7b3f0d5a2e8";
export const OLD_KEY = "fz-key-rotated-c41d7e9a02b6f58e3a1d";
/** The allow-list prefix generated repository URLs aim at, around and past. */
export const ALLOWED_PREFIX = "https://git.example.test/acme/";
export const MAX_BODY = 64 * 1024;
/** An Idempotency-Key the suite uses once, up front; any later request with it differs, so it is a 422 conflict. */
export const CONFLICT_KEY = "fuzz-conflict-key";
/** Headers this large are past Bun's own limit: Bun answers before the app sees the request. */
export const OVERSIZED_HEADER = 70 * 1024;

const enc = new TextEncoder();
const bytesOf = (s: string) => enc.encode(s);
const concat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

// ---------------------------------------------------------------- headers

/** Characters a fetch header value may carry: printable ASCII and obs-text (no CR, LF, NUL). */
const headerChar = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff })).map((c) => String.fromCharCode(c));
const headerValue = (maxLength = 64) => fc.string({ unit: headerChar, maxLength });

/** What the server sees of a header value: fetch strips leading and trailing spaces and tabs. */
export const wireTrim = (v: string) => v.replace(/^[ \t]+|[ \t]+$/g, "");

export interface AuthCase {
  name: string;
  headers: [string, string][];
  /** True when some presented credential is a configured key. */
  ok: boolean;
}

const validAuth: [string, [string, string][]][] = [
  ["bearer", [["authorization", `Bearer ${KEY}`]]],
  ["bearer lower", [["authorization", `bearer ${KEY}`]]],
  ["bearer upper, rotated key", [["authorization", `BEARER ${OLD_KEY}`]]],
  ["api-key", [["authorization", `Api-Key ${KEY}`]]],
  ["api-key lower, tab", [["authorization", `api-key\t${KEY}`]]],
  ["bearer, padded", [["authorization", `  Bearer   ${KEY}  `]]],
  ["x-api-key", [["x-api-key", KEY]]],
  ["x-api-key rotated, padded", [["x-api-key", ` ${OLD_KEY} `]]],
  ["bad authorization, good x-api-key", [["authorization", "Bearer nope"], ["x-api-key", KEY]]],
  ["good authorization, bad x-api-key", [["authorization", `Bearer ${KEY}`], ["x-api-key", "nope"]]],
];

const invalidAuth: [string, [string, string][]][] = [
  ["none", []],
  ["key + char", [["authorization", `Bearer ${KEY}x`]]],
  ["key - char", [["authorization", `Bearer ${KEY.slice(0, -1)}`]]],
  ["close key", [["authorization", `Bearer ${KEY.slice(0, -2)}zz`]]],
  ["upper-case key", [["x-api-key", KEY.toUpperCase()]]],
  ["basic scheme", [["authorization", `Basic ${KEY}`]]],
  ["token scheme", [["authorization", `Token ${KEY}`]]],
  ["no scheme", [["authorization", KEY]]],
  ["scheme only", [["authorization", "Bearer"]]],
  ["scheme glued", [["authorization", `Bearer:${KEY}`]]],
  ["scheme =", [["authorization", `Bearer=${KEY}`]]],
  ["key first", [["authorization", `${KEY} Bearer`]]],
  ["quoted key", [["x-api-key", `"${KEY}"`]]],
  ["base64 key", [["x-api-key", Buffer.from(KEY).toString("base64")]]],
  ["two keys in one value", [["x-api-key", `${KEY},${OLD_KEY}`]]],
  ["key and space", [["x-api-key", `${KEY} ${KEY}`]]],
  ["empty x-api-key", [["x-api-key", ""]]],
  ["empty authorization", [["authorization", ""]]],
  ["latin-1 tail", [["authorization", `Bearer ${KEY}\u00ff`]]],
  ["duplicate authorization", [["authorization", `Bearer ${KEY}`], ["authorization", `Bearer ${KEY}`]]],
  ["duplicate authorization, mixed", [["authorization", `Bearer ${KEY}`], ["authorization", "Bearer nope"]]],
  ["duplicate x-api-key", [["x-api-key", KEY], ["x-api-key", KEY]]],
  ["duplicate x-api-key, rotated", [["x-api-key", KEY], ["x-api-key", OLD_KEY]]],
  ["long bearer", [["authorization", `Bearer ${"k".repeat(6000)}`]]],
  ["long x-api-key", [["x-api-key", "k".repeat(6000)]]],
];

const notAKey = (s: string) => wireTrim(s) !== KEY && wireTrim(s) !== OLD_KEY;

export const authCase: fc.Arbitrary<AuthCase> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...validAuth).map(([name, headers]) => ({ name, headers, ok: true })) },
  { weight: 5, arbitrary: fc.constantFrom(...invalidAuth).map(([name, headers]) => ({ name, headers, ok: false })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom("Bearer ", "Api-Key ", "", "bearer\t"), headerValue(80).filter(notAKey), fc.constantFrom("authorization", "x-api-key"))
      .map(([scheme, value, name]): AuthCase => ({ name: "random", headers: [[name, name === "authorization" ? scheme + value : value]], ok: false })),
  },
);

export interface RequestIdCase {
  /** The header as sent, or null for none. */
  value: string | null;
}

const insaneRequestIds = [
  "",
  "   ",
  "-leading-dash",
  ".leading-dot",
  "_x",
  ":x",
  "a b",
  "a".repeat(129),
  "x".repeat(5000),
  "<script>alert(1)</script>",
  "../../etc/passwd",
  '"},{"injected":1',
  "a/b",
  "a\tb",
  "caf\u00e9",
  "%0d%0aX-Injected:%201",
  "${jndi:ldap://x/a}",
];

export const requestIdCase: fc.Arbitrary<RequestIdCase> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ value: null }) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/).map((value) => ({ value })) },
  { weight: 2, arbitrary: fc.constantFrom(...insaneRequestIds).map((value) => ({ value })) },
  { weight: 1, arbitrary: headerValue(140).map((value) => ({ value })) },
);

/** The server's rule for echoing X-Request-ID (src/http/request-context.ts). */
export const SANE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export type IdempotencyCase = { kind: "none" } | { kind: "fresh" } | { kind: "invalid"; value: string } | { kind: "conflict" };

export const idempotencyCase: fc.Arbitrary<IdempotencyCase> = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ kind: "none" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "fresh" as const }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom("", " ", "a b", "tab\there", "caf\u00e9", "\u00ff", "k".repeat(256))
      .map((value) => ({ kind: "invalid" as const, value })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "conflict" as const }) },
);

export type MediaKind = "json" | "text" | "unsupported";

/** README: application/json and *+json are JSON; text/*, form, octet-stream or none are the prompt; the rest is 415. */
export function mediaKind(contentType: string | null): MediaKind {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type)) return "json";
  if (type === "" || type.startsWith("text/") || type === "application/x-www-form-urlencoded" || type === "application/octet-stream") return "text";
  return "unsupported";
}

/** Content-Type header values sent: null = none; an array = the header sent twice. */
export type ContentTypeCase = string | null | [string, string];

export const contentTypeCase: fc.Arbitrary<ContentTypeCase> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom<ContentTypeCase>(
      "application/json",
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      "application/vnd.api+json",
      "application/merge-patch+json; charset=latin1",
    ),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom<ContentTypeCase>(
      null,
      "text/plain",
      "text/plain; charset=iso-8859-1",
      "TEXT/HTML",
      "text/x-anything",
      "application/x-www-form-urlencoded",
      "application/octet-stream",
      "",
      "; charset=utf-8",
    ),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom<ContentTypeCase>(
      "multipart/form-data; boundary=fuzzboundary",
      "multipart/mixed; boundary=x",
      "multipart/form-data",
      "application/xml",
      "image/png",
      "application/jsonx",
      "application/json+x",
      "json",
      "application/",
      "application/json, text/plain",
      "*/*",
      "\u00ff/\u00ff",
      ["application/json", "text/plain"],
      ["text/plain", "multipart/form-data; boundary=x"],
    ),
  },
  { weight: 1, arbitrary: headerValue(60) },
);

export function contentTypeSeen(ct: ContentTypeCase): string | null {
  if (ct === null) return null;
  // A repeated header reaches the app as one comma-joined value.
  return Array.isArray(ct) ? ct.map(wireTrim).join(", ") : wireTrim(ct);
}

// ---------------------------------------------------------------- JSON fields

/**
 * What a body is worth once it is read as JSON: 400, 403 (repository outside the allow-list), a valid run,
 * or "400|403": a repository that is never allowed, but whose syntax the URL parser may or may not accept.
 */
export type JsonVerdict = 400 | 403 | "400|403" | "valid";

interface Tagged {
  value: unknown;
  ok: boolean;
}

type Optional = Tagged | null;

const ABSENT = null;

const deepArray = (depth: number) => JSON.parse("[".repeat(Math.min(depth, 2000)) + "]".repeat(Math.min(depth, 2000))) as unknown;

const badBranchFixed = [
  "--upload-pack=touch /tmp/x",
  "--upload-pack=touch${IFS}/tmp/x",
  "-b",
  "-",
  "../x",
  "a/../b",
  "a..b",
  "..",
  "x.lock",
  "a/x.lock/b",
  "@",
  "@{-1}",
  "a@{b",
  "with space",
  "tab\there",
  "new\nline",
  "nul\u0000byte",
  "del\u007f",
  "esc\u001b[31m",
  "HEAD",
  "refs/heads/main",
  "/x",
  "x/",
  "a//b",
  "x.",
  ".hidden",
  "a/.b",
  "~x",
  "a^b",
  "a:b",
  "a?b",
  "a*b",
  "a[b",
  "a\\b",
  "",
  "b".repeat(201),
];

const anyString = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: "grapheme", maxLength: 12 }), fc.string({ unit: "binary", maxLength: 12 }));

/** Branch names that break git's rules whatever the random parts are. */
export const badBranch: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...badBranchFixed) },
  {
    weight: 3,
    arbitrary: fc.tuple(anyString, anyString, fc.constantFrom("..", " ", "@{", "\u0000", "\n", ":", "~", "^", "*", "?", "[", "\\")).map(([a, b, bad]) => `${a}${bad}${b}`),
  },
  { weight: 2, arbitrary: anyString.map((a) => `-${a}`) },
  { weight: 2, arbitrary: anyString.map((a) => `${a}.lock`) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(1, true, false, [], {}, ["main"], { name: "main" }, 0) },
);

const goodBranch = fc.oneof(
  fc.constantFrom("main", "feature/x", "bugfix-branch", "release-1.2", "opencode/abc123", "\u00fc-umlaut", "a\u202eb", "x@y"),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}(\/[a-z0-9][a-z0-9_-]{0,10})?$/),
);

const badModel = fc.constantFrom<unknown>(
  "",
  "anthropic",
  "/model",
  "provider/",
  "-x/y",
  "--model=x/y",
  "pro vider/m",
  "p/m ",
  "p/m\u0000",
  "p/m\n",
  "p/\u202em",
  "\uff50/m",
  "p/m;rm -rf /",
  "p/$(id)",
  "p/`id`",
  `p/${"m".repeat(200)}`,
  42,
  true,
  [],
  {},
  ["a/b"],
);
const goodModel = fc.constantFrom("anthropic/claude-sonnet-4-5", "openrouter/anthropic/claude-sonnet-4", "a/b", "x.y/z:1@2+3", "Prov_1/Model-2.5");

const badAgent = fc.constantFrom<unknown>("", "-plan", "plan agent", "a".repeat(65), "../x", "plan\u0000", "\uff42uild", "plan;id", "p/q", 7, false, {}, ["build"]);
const goodAgent = fc.constantFrom("build", "plan", "my_agent.v2", `a${"b".repeat(63)}`);

const badPush = fc.constantFrom<unknown>("true", "false", 1, 0, [], {}, "yes");

// Budget caps: positive numbers (whole for tokens and steps); the fuzzed server sets no ceiling.
const goodCost = fc.oneof(fc.double({ min: 1e-6, max: 1e6, noNaN: true, noDefaultInfinity: true }), fc.integer({ min: 1, max: 1000 }));
const goodCount = fc.integer({ min: 1, max: 1_000_000 });
const badCap = fc.constantFrom<unknown>(0, -1, -0.5, "1", "ten", "Infinity", true, [], {}, [1]);
const badCount = fc.oneof(badCap, fc.constantFrom<unknown>(1.5, 0.1, 2 ** 60));

/** A field that is mostly absent, sometimes null, valid or invalid. */
function field(good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>, absentWeight = 6): fc.Arbitrary<Optional> {
  return fc.oneof(
    { weight: absentWeight, arbitrary: fc.constant(ABSENT) },
    { weight: 1, arbitrary: fc.constant({ value: null, ok: true }) },
    { weight: 2, arbitrary: good.map((value) => ({ value, ok: true })) },
    { weight: 2, arbitrary: bad.map((value) => ({ value, ok: false })) },
  );
}

const blankPrompts = ["", " ", "\t\n\r ", "\u00a0", "\u2028\u2029", "\ufeff", "\u3000", "\u1680", "\u000b\u000c"];
const edgePrompts = [
  "\u0000",
  "\u0000\u0000prompt",
  "\u202eRTL override\u202c",
  "\ufeffBOM first",
  "\ud800",
  "\udfff lone low",
  "a\ud800b",
  "\u200b",
  "e\u0301\u0301\u0301",
  "\ud83d\udca9",
  "--help",
  "-u root",
  "$(touch /tmp/pwned)",
  "`id`",
  "prompt\r\nX-Injected: 1",
  "\u0085next line",
];

const promptString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.constantFrom(...blankPrompts) },
  { weight: 2, arbitrary: fc.constantFrom(...edgePrompts) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...blankPrompts), { minLength: 1, maxLength: 5 }).map((a) => a.join("")) },
);

/** The prompt rule: a string that is not blank (README: "must not be blank"; JavaScript's trim decides blank). */
const promptField: fc.Arbitrary<Optional> = fc.oneof(
  { weight: 12, arbitrary: promptString.map((s) => ({ value: s, ok: s.trim() !== "" })) },
  { weight: 1, arbitrary: fc.constant(ABSENT) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(null, 1, -0, 1e308, true, [], ["x"], { text: "x" }, [["x"]]).map((value) => ({ value, ok: false })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2000 }).map((d) => ({ value: deepArray(d), ok: false })) },
);

type RepoKind = "bad" | "notAllowed" | "refused" | "allowed" | "unknown";

export const badRepos = [
  "-uhttps://git.example.test/acme/x",
  "--upload-pack=touch /tmp/x",
  "--upload-pack=touch${IFS}/tmp/x",
  "--config=core.sshCommand=touch /tmp/x",
  "-c",
  "ext::sh -c touch% /tmp/pwned",
  "ext::sh",
  "fd::17",
  "transport::https://git.example.test/acme/x",
  "file:///etc",
  "file:///etc/passwd",
  "FILE:///etc",
  "file://localhost/etc",
  "/etc/passwd",
  "./repo",
  "../repo",
  "git://github.com/acme/x",
  "ssh://git@github.com/acme/x",
  "git@github.com:acme/x.git",
  "git.example.test:acme/x",
  "https://user:pass@git.example.test/acme/x",
  "https://token@git.example.test/acme/x",
  "https://:pw@git.example.test/acme/x",
  "https://git.example.test@evil.test/acme/x",
  "https://git.example.test/acme/x?upload-pack=touch",
  "https://git.example.test/acme/x?",
  "https://git.example.test/acme/x#frag",
  "https://git.example.test/acme/x\n",
  "https://git.example.test/acme/x\r\nHost: evil",
  "https://git.example.test/acme/\u0000x",
  "https://git.example.test/acme/\u007fx",
  " https://git.example.test/acme/x",
  "https://git.example.test/acme/x y",
  "https://git.example.test/acme/x\t",
  "https://git.example.test/acme/x\u00a0",
  "https://git.example.test/acme/x\u3000",
  "https://",
  "https://git.example.test",
  "https://git.example.test/",
  "",
  "http://",
  "https://[::1",
  "https://exa mple.test/x",
  "javascript:alert(1)",
  "data:text/plain,x",
  "ftp://git.example.test/acme/x",
  "HTTPS+ext::x",
  `https://git.example.test/acme/${"a".repeat(2100)}`,
  // Under the prefix as written, outside it on a host that decodes %2F or %5C before resolving "..".
  "https://git.example.test/acme/..%2f..%2fetc",
  "https://git.example.test/acme/..%2Fother/secret.git",
  "https://git.example.test/acme/..%5c..%5cother",
  "https://git.example.test/acme/a%2Fb",
  "https://xn--git-example-test/acme/x",
];

export const notAllowedRepos = [
  "http://169.254.169.254/latest/meta-data/",
  "http://169.254.169.254/computeMetadata/v1/",
  "http://[::1]/x",
  "http://[::1]:8080/x",
  "http://[0:0:0:0:0:0:0:1]/x",
  "http://[::ffff:127.0.0.1]/x",
  "http://[::ffff:a9fe:a9fe]/x",
  "http://[fe80::1]/x",
  "http://0x7f.1/x",
  "http://0x7f000001/x",
  "http://2130706433/x",
  "http://017700000001/x",
  "http://127.1/x",
  "http://127.0.0.1/x",
  "http://0/x",
  "http://0.0.0.0/x",
  "http://localhost/x",
  "http://localhost:22/x",
  "http://metadata.google.internal/x",
  "https://git.example.test/acme-evil/x",
  "https://git.example.test/acmex",
  "https://git.example.test/ACME/x",
  "https://git.example.test/acme",
  "https://git.example.test/acme/../etc/x",
  "https://git.example.test/acme/%2e%2e/etc",
  "https://git.example.test/acme/./../x",
  "http://git.example.test/acme/x",
  "https://git.example.test:444/acme/x",
  "https://git.example.test./acme/x",
  "https://git.example.test.evil.test/acme/x",
  "https://evil.test/git.example.test/acme/x",
  "https://evil.test\\@git.example.test/acme/x",
  "https://github.com/acme/x",
  "https://g\u0131t.example.test/acme/x",
];

export const allowedRepos = [
  "https://git.example.test/acme/repo.git",
  "https://git.example.test/acme/sub/repo",
  "https://GIT.Example.Test/acme/x",
  "https://git.example.test:443/acme/x",
  "https://git.example.test/acme/x/../y",
  "https://git.example.test/acme/%61",
];

const repoField: fc.Arbitrary<{ kind: RepoKind | "absent"; tagged: Optional }> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: "absent" as const, tagged: ABSENT }) },
  { weight: 1, arbitrary: fc.constant({ kind: "absent" as const, tagged: { value: null, ok: true } }) },
  { weight: 4, arbitrary: fc.constantFrom(...badRepos).map((value) => ({ kind: "bad" as const, tagged: { value, ok: false } })) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(1, true, [], {}, ["https://git.example.test/acme/x"]).map((value) => ({ kind: "bad" as const, tagged: { value, ok: false } })) },
  { weight: 8, arbitrary: fc.constantFrom(...notAllowedRepos).map((value) => ({ kind: "notAllowed" as const, tagged: { value, ok: true } })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.ipV4(), fc.constantFrom("http", "https"))
      .map(([ip, scheme]) => ({ kind: "notAllowed" as const, tagged: { value: `${scheme}://${ip}/x.git`, ok: true } })),
  },
  {
    weight: 1,
    // Some generated forms (e.g. "0::0:0:0:0.0.0.0") are refused by the URL parser, the rest by the allow-list.
    arbitrary: fc.ipV6().map((ip) => ({ kind: "refused" as const, tagged: { value: `http://[${ip}]/x.git`, ok: true } })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 0xffffffff }).map((n) => ({ kind: "notAllowed" as const, tagged: { value: `http://${n}/x.git`, ok: true } })),
  },
  { weight: 2, arbitrary: fc.constantFrom(...allowedRepos).map((value) => ({ kind: "allowed" as const, tagged: { value, ok: true } })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.webUrl({ validSchemes: ["http", "https"], withQueryParameters: true, withFragments: true, authoritySettings: { withIPv4: true, withIPv6: true, withPort: true, withUserInfo: true } }),
        anyString.map((s) => `${ALLOWED_PREFIX}${s}`),
        anyString.map((s) => `https://git.example.test/${s}`),
        headerValue(40).map((s) => `${s}://git.example.test/acme/x`),
      )
      .map((value) => ({ kind: "unknown" as const, tagged: { value, ok: true } })),
  },
);

const KNOWN_KEYS: ReadonlySet<string> = new Set(["prompt", "model", "agent", "repository", "branch", "base", "push", "continue", "max_cost_usd", "max_tokens", "max_steps"]);

const EXTRA_KEYS = ["prompts", "Prompt", "PROMPT", "prompt ", " prompt", "__proto__", "constructor", "toString", "hasOwnProperty", "", "\u0000", "p\u0000rompt", "repo", "token", "env"];

/** A JSON body assembled as text, so duplicate keys and "__proto__" reach the server verbatim. */
export interface JsonBody {
  text: string;
  verdict: JsonVerdict;
}

function objectText(entries: [string, unknown][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
}

export const structuredJson: fc.Arbitrary<JsonBody> = fc
  .record({
    prompt: promptField,
    model: field(goodModel, badModel),
    agent: field(goodAgent, badAgent),
    repository: repoField,
    branch: field(goodBranch, badBranch),
    base: field(goodBranch, badBranch, 8),
    push: field(fc.boolean(), badPush, 8),
    maxCost: field(goodCost, badCap, 10),
    maxTokens: field(goodCount, badCount, 10),
    maxSteps: field(goodCount, badCount, 10),
    extra: fc.oneof(
      { weight: 8, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(...EXTRA_KEYS), fc.string({ maxLength: 12 }).filter((k) => !KNOWN_KEYS.has(k))), fc.jsonValue({ maxDepth: 2 })) },
    ),
    /** An earlier duplicate of one of the body's keys (which one: this number modulo the key count), with a junk value. */
    shadow: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.jsonValue({ maxDepth: 1 })) }),
    forcedBadBranch: badBranch,
  })
  .map((r): JsonBody => {
    let branch = r.branch;
    const fieldsOk = [r.prompt, r.model, r.agent, r.repository.tagged, branch, r.base, r.push, r.maxCost, r.maxTokens, r.maxSteps].every((t) => t === ABSENT || t.ok) && r.prompt !== ABSENT;
    const hasRepo = r.repository.tagged !== ABSENT && r.repository.tagged.value !== null;
    const needsRepo = [branch, r.base, r.push].some((t) => t !== ABSENT && t.value !== null);
    let bad = !fieldsOk || r.repository.kind === "bad" || r.extra !== null || (!hasRepo && needsRepo);
    // A repository that may be allowed would start git: pair it with a branch git refuses, so the request is a 400 by construction.
    if (!bad && (r.repository.kind === "allowed" || r.repository.kind === "unknown")) {
      branch = { value: r.forcedBadBranch, ok: false };
      bad = true;
    }
    const entries: [string, unknown][] = [];
    const put = (key: string, t: Optional) => {
      if (t !== ABSENT) entries.push([key, t.value]);
    };
    put("prompt", r.prompt);
    put("model", r.model);
    put("agent", r.agent);
    put("repository", r.repository.tagged);
    put("branch", branch);
    put("base", r.base);
    put("push", r.push);
    put("max_cost_usd", r.maxCost);
    put("max_tokens", r.maxTokens);
    put("max_steps", r.maxSteps);
    if (r.extra) entries.push(r.extra);
    // JSON.parse keeps the last of duplicate keys, so a junk value ahead of a key the body sets again changes nothing.
    const shadowed = r.shadow && entries.length > 0 ? entries[r.shadow[0] % entries.length] : undefined;
    if (r.shadow && shadowed) entries.unshift([shadowed[0], r.shadow[1]]);
    const verdict: JsonVerdict = bad ? 400 : r.repository.kind === "notAllowed" ? 403 : r.repository.kind === "refused" ? "400|403" : "valid";
    return { text: objectText(entries), verdict };
  });

/** Wrong types, huge and deeply nested JSON: all refused (400), whatever the random parts are. */
export const hostileJson: fc.Arbitrary<JsonBody> = fc.oneof(
  // Top-level values that are not objects.
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).filter((v) => v === null || typeof v !== "object" || Array.isArray(v)).map((v) => ({ text: JSON.stringify(v), verdict: 400 as const })) },
  // Objects with an unknown key.
  { weight: 2, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }).map((d) => ({ text: objectText([...Object.entries(d), ["\u0000fuzz", 1]]), verdict: 400 as const })) },
  // Deep nesting, balanced and not.
  {
    weight: 2,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 30_000 }), fc.constantFrom("[", '{"a":', '{"prompt":')).map(([depth, open]) => {
      const close = open === "[" ? "]" : "}";
      return { text: open.repeat(depth) + "1" + close.repeat(depth), verdict: 400 as const };
    }),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 60_000 }).map((depth) => ({ text: "[".repeat(depth), verdict: 400 as const })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 9_000 }).map((depth) => ({ text: `{"prompt":"x","extra":${"[".repeat(depth)}${"]".repeat(depth)}}`, verdict: 400 as const })),
  },
  // Many keys, long arrays, odd numbers.
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 6_000 }).map((n) => ({ text: objectText([["prompt", "x"], ...Array.from({ length: n }, (_, i): [string, unknown] => [`k${i}`, i])]), verdict: 400 as const })) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => ({ text: `{"prompt":[${Array(n).fill(0).join(",")}]}`, verdict: 400 as const })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('{"prompt":1e999}', '{"prompt":"x","push":1e999}', '{"prompt":-0}', '{"prompt":"x","model":NaN}', '{"prompt":"x",}', "{'prompt':'x'}", '{"prompt":"x"}}', '{"prompt":"\\ud800', '{"prompt":"\\u00"}', '{"prompt":"x"} trailing', "\u0000", "{}", "[]", "null", '""')
      .map((text) => ({ text, verdict: 400 as const })),
  },
);

// ---------------------------------------------------------------- bodies

export interface BodyCase {
  name: string;
  bytes: Uint8Array;
  /** What the body is worth read as JSON; "opaque" = work it out by parsing (random bytes). */
  json: JsonVerdict | "opaque";
}

/** Invalid UTF-8: overlong forms, UTF-16 surrogates, past U+10FFFF, truncated and stray bytes. */
const BAD_UTF8 = [
  [0xc0, 0xaf],
  [0xc0, 0x80],
  [0xe0, 0x80, 0xaf],
  [0xf0, 0x80, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xe2, 0x82],
  [0x80],
  [0xfe],
  [0xff, 0xfe],
].map((b) => Uint8Array.from(b));

const BOM = Uint8Array.from([0xef, 0xbb, 0xbf]);

export const bodyCase: fc.Arbitrary<BodyCase> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(structuredJson, fc.constantFrom("", "bom", "ws")).map(([b, wrap]) => ({ name: "structured json", bytes: concat(wrap === "bom" ? BOM : new Uint8Array(), bytesOf(wrap === "ws" ? ` \n${b.text}\t ` : b.text)), json: b.verdict })) },
  { weight: 3, arbitrary: hostileJson.map((b) => ({ name: "hostile json", bytes: bytesOf(b.text), json: b.verdict })) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => ({ name: "random bytes", bytes, json: "opaque" as const })) },
  {
    weight: 2,
    arbitrary: fc.tuple(structuredJson, fc.constantFrom(...BAD_UTF8), fc.nat()).map(([b, bad, at]) => {
      // Invalid UTF-8 spliced into an otherwise well-formed body: refused whichever way it is read.
      const text = bytesOf(b.text);
      const cut = at % (text.length + 1);
      return { name: "bad utf-8", bytes: concat(text.subarray(0, cut), bad, text.subarray(cut)), json: 400 as const };
    }),
  },
  { weight: 1, arbitrary: fc.constant({ name: "empty", bytes: new Uint8Array(), json: 400 as const }) },
  { weight: 1, arbitrary: fc.constantFrom(BOM, Uint8Array.from([0x20, 0x09, 0x0a]), concat(BOM, bytesOf("  "))).map((bytes) => ({ name: "blank", bytes, json: 400 as const })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: MAX_BODY - 64, max: MAX_BODY + 4096 }).map((n) => ({ name: "huge prompt", bytes: bytesOf(`{"prompt":"${"x".repeat(n - 13)}"}`), json: "valid" as const })),
  },
  { weight: 1, arbitrary: fc.integer({ min: MAX_BODY + 1, max: 4 * MAX_BODY }).map((n) => ({ name: "huge bytes", bytes: new Uint8Array(n).fill(0x7b), json: 400 as const })) },
  {
    weight: 1,
    arbitrary: fc.constant({
      name: "multipart",
      bytes: bytesOf('--fuzzboundary\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello\r\n--fuzzboundary--\r\n'),
      json: 400 as const,
    }),
  },
);

// ---------------------------------------------------------------- requests

export interface FuzzRequest {
  path: "/run" | "/runs";
  auth: AuthCase;
  contentType: ContentTypeCase;
  body: BodyCase;
  requestId: RequestIdCase;
  idempotency: IdempotencyCase;
  accept: string | null;
  /** Send the body chunked (a stream, no Content-Length). */
  stream: boolean;
  /** A Last-Event-ID header (only read when POST /run streams its events). */
  lastEventId: string | null;
  /** Extra headers: junk, many, or one past Bun's header limit. */
  extra: { name: string; headers: [string, string][]; oversized: boolean };
}

const extraHeaders = fc.oneof(
  { weight: 26, arbitrary: fc.constant({ name: "none", headers: [] as [string, string][], oversized: false }) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.tuple(fc.constantFrom("x-forwarded-for", "x-real-ip", "forwarded", "x-original-url", "x-http-method-override", "cookie", "origin", "referer", "x-fuzz"), headerValue(40)), { maxLength: 6 })
      .map((headers) => ({ name: "junk", headers, oversized: false })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 60 }).map((n) => ({ name: "many", headers: Array.from({ length: n }, (_, i): [string, string] => [`x-fuzz-${i}`, `v${i}`]), oversized: false })) },
  { weight: 1, arbitrary: fc.constantFrom("authorization", "x-api-key", "x-request-id", "x-fuzz").map((name) => ({ name: `oversized ${name}`, headers: [[name, "k".repeat(OVERSIZED_HEADER)]] as [string, string][], oversized: true })) },
);

export const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.record({
  path: fc.constantFrom("/run" as const, "/runs" as const),
  auth: authCase,
  contentType: contentTypeCase,
  body: bodyCase,
  requestId: requestIdCase,
  idempotency: idempotencyCase,
  accept: fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    { weight: 3, arbitrary: fc.constantFrom("text/event-stream", "TEXT/EVENT-STREAM", "text/event-stream;q=0, application/json") },
    { weight: 2, arbitrary: fc.constantFrom("application/json", "*/*", "text/*", "\u00ff") },
  ),
  stream: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  lastEventId: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.constantFrom("-1", "1.5", "x", "1e3", "0x10", "9".repeat(16), "\u00ff", "1 2") },
    { weight: 1, arbitrary: fc.constantFrom("", " ", "0", "7", "999999999999999") },
  ),
  extra: extraHeaders,
});

// ---------------------------------------------------------------- the oracle

export type Expectation =
  /** Refused by the app: one of these statuses (nearly always exactly one), a JSON error body, nothing started. */
  | { kind: "refused"; statuses: number[] }
  /** A valid run: 200 (/run) or 202 (/runs), or 429 if the queue is full. */
  | { kind: "accepted"; sse: boolean }
  /** Headers past Bun's limit: Bun refuses it before the app runs. */
  | { kind: "header-limit" };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** What README promises for a request, worked out from its parts (never by asking the server's code). */
const refused = (...statuses: number[]): Expectation => ({ kind: "refused", statuses });

export function expectationOf(r: FuzzRequest): Expectation {
  if (r.extra.oversized) return { kind: "header-limit" };
  if (!r.auth.ok) return refused(401);
  if (r.body.bytes.length > MAX_BODY && !r.stream) return refused(413);
  const kind = mediaKind(contentTypeSeen(r.contentType));
  if (kind === "unsupported") return refused(415);
  if (r.body.bytes.length > MAX_BODY) return refused(413);
  if (r.body.bytes.length === 0) return refused(400);
  let text: string;
  try {
    text = utf8.decode(r.body.bytes);
  } catch {
    return refused(400);
  }
  let verdict: JsonVerdict;
  if (kind === "text") {
    verdict = text.trim() === "" ? 400 : "valid";
  } else if (r.body.json === "opaque") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return refused(400);
    }
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) && Object.hasOwn(parsed, "prompt")) {
      throw new Error(`random bytes parsed as a JSON object with a prompt; the oracle cannot classify it: ${text.slice(0, 200)}`);
    }
    verdict = 400;
  } else {
    verdict = r.body.json;
  }
  if (verdict === 400) return refused(400);
  const sse = r.path === "/run" && (r.accept ?? "").toLowerCase().includes("text/event-stream");
  // A streamed run resumes after Last-Event-ID, which must be an event id (a number; blank means none).
  if (sse && r.lastEventId !== null && wireTrim(r.lastEventId) !== "" && !/^\d{1,15}$/.test(wireTrim(r.lastEventId))) return refused(400);
  // Past validation, the run manager checks the Idempotency-Key before the allow-list.
  if (r.idempotency.kind === "invalid") return refused(400);
  if (r.idempotency.kind === "conflict") return verdict === "400|403" ? refused(400, 422) : refused(422);
  if (verdict === 403) return refused(403);
  if (verdict === "400|403") return refused(400, 403);
  return { kind: "accepted", sse };
}

// Raw HTTP/1.1 requests for the fuzz suite: duplicate, oversized and broken headers, bad framing — none of them a valid run.
import fc from "fast-check";
import { KEY, OLD_KEY, SANE_REQUEST_ID } from "./fuzz-requests.ts";

export interface RawCase {
  name: string;
  bytes: Buffer;
  /**
   * Well-formed HTTP: the app must answer with exactly this status (a JSON error). null: malformed, so Bun
   * may refuse it itself (Bun's answers are not JSON) or close the connection — but nothing may start.
   */
  expectStatus: number | null;
  /** The X-Request-ID the app must echo, when one was sent and is sane. */
  requestId: string | null;
}

interface Head {
  line: string;
  headers: string[];
  /** Body bytes, already framed (Content-Length or chunked) by `framing`. */
  body: Buffer;
  framing: string[];
}

const latin1 = (s: string) => Buffer.from(s, "latin1");

/** Authorization lines and whether they carry a valid key. Duplicates are never valid. */
const authLines = fc.constantFrom<[string[], boolean]>(
  [[], false],
  [[`Authorization: Bearer ${KEY}`], true],
  [[`X-API-Key: ${OLD_KEY}`], true],
  [["Authorization: Bearer nope"], false],
  [[`Authorization: Bearer ${KEY}`, `Authorization: Bearer ${KEY}`], false],
  [[`X-API-Key: ${KEY}`, `X-API-Key: ${KEY}`], false],
  [[`X-API-Key: ${KEY}`, `X-API-Key: ${OLD_KEY}`], false],
  [[`Authorization: Basic ${KEY}`], false],
  [[`authorization: bearer ${KEY.toUpperCase()}`], false],
  [[`Authorization:Bearer ${KEY}x`], false],
);

/** Content-Type and body pairs that can never be a run: refused media types, JSON without a prompt, blank text. */
const payloads = fc.constantFrom<[string | null, string, number]>(
  ["multipart/form-data; boundary=b", '--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello\r\n--b--\r\n', 415],
  ["application/xml", "<prompt>hello</prompt>", 415],
  ["image/png", "\u0089PNG\r\n\u001a\n", 415],
  ["application/json", '{"nope":true}', 400],
  ["application/json", '{"prompt":5}', 400],
  ["application/json", '{"prompt":"x","repository":"--upload-pack=touch /tmp/x"}', 400],
  ["application/json", '{"prompt":"x","repository":"ext::sh -c touch% /tmp/x"}', 400],
  ["application/json", "[[[[[[[[", 400],
  [null, "   ", 400],
  [null, "", 400],
);

const requestIds = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,40}$/) },
  { weight: 2, arbitrary: fc.constantFrom("-x", "a b", "x".repeat(200), "\u00ff\u00fe", '"};', "a\tb", "") },
);

function serialise(head: Head, eol = "\r\n"): Buffer {
  return Buffer.concat([latin1([head.line, ...head.headers, ...head.framing].join(eol) + eol + eol), head.body]);
}

const wellFormed = fc
  .record({
    path: fc.constantFrom("/run", "/runs", "/run?x=1", "/runs?limit=2"),
    version: fc.constantFrom("HTTP/1.1", "HTTP/1.0"),
    auth: authLines,
    payload: payloads,
    requestId: requestIds,
    chunked: fc.boolean(),
  })
  .map(({ path, version, auth, payload, requestId, chunked }): RawCase & { head: Head } => {
    const [contentType, body, status] = payload;
    const headers = ["Host: 127.0.0.1", ...auth[0]];
    if (contentType !== null) headers.push(`Content-Type: ${contentType}`);
    if (requestId !== null) headers.push(`X-Request-ID: ${requestId}`);
    const bytes = latin1(body);
    // HTTP/1.0 has no chunked encoding.
    const useChunked = chunked && version === "HTTP/1.1";
    const head: Head = {
      line: `POST ${path} ${version}`,
      headers,
      body: useChunked ? Buffer.concat([latin1(bytes.length > 0 ? `${bytes.length.toString(16)}\r\n` : ""), bytes, latin1(bytes.length > 0 ? "\r\n0\r\n\r\n" : "0\r\n\r\n")]) : bytes,
      framing: useChunked ? ["Transfer-Encoding: chunked"] : [`Content-Length: ${bytes.length}`],
    };
    const trimmed = requestId?.replace(/^[ \t]+|[ \t]+$/g, "") ?? null;
    return {
      name: "well-formed",
      head,
      bytes: serialise(head),
      expectStatus: auth[1] ? status : 401,
      requestId: trimmed !== null && SANE_REQUEST_ID.test(trimmed) ? trimmed : null,
    };
  });

/** Ways to break a well-formed request: framing, header syntax, sizes, the request line. */
const mutations: [string, (h: Head) => Buffer][] = [
  ["bare LF line ends", (h) => serialise(h, "\n")],
  ["duplicate Content-Length, same", (h) => serialise({ ...h, framing: [`Content-Length: ${h.body.length}`, `Content-Length: ${h.body.length}`] })],
  ["duplicate Content-Length, different", (h) => serialise({ ...h, framing: [`Content-Length: ${h.body.length}`, `Content-Length: ${h.body.length + 3}`] })],
  ["Content-Length and chunked", (h) => serialise({ ...h, framing: [`Content-Length: ${h.body.length}`, "Transfer-Encoding: chunked"] })],
  ["Content-Length -1", (h) => serialise({ ...h, framing: ["Content-Length: -1"] })],
  ["Content-Length abc", (h) => serialise({ ...h, framing: ["Content-Length: abc"] })],
  ["Content-Length hex", (h) => serialise({ ...h, framing: ["Content-Length: 0x10"] })],
  ["Content-Length overflow", (h) => serialise({ ...h, framing: ["Content-Length: 99999999999999999999999"] })],
  ["Content-Length with sign", (h) => serialise({ ...h, framing: [`Content-Length: +${h.body.length}`] })],
  ["Content-Length list", (h) => serialise({ ...h, framing: [`Content-Length: ${h.body.length}, ${h.body.length}`] })],
  ["bad chunk size", (h) => serialise({ ...h, framing: ["Transfer-Encoding: chunked"], body: latin1("zz\r\nhello\r\n0\r\n\r\n") })],
  ["negative chunk size", (h) => serialise({ ...h, framing: ["Transfer-Encoding: chunked"], body: latin1("-5\r\nhello\r\n0\r\n\r\n") })],
  ["huge chunk size", (h) => serialise({ ...h, framing: ["Transfer-Encoding: chunked"], body: latin1("ffffffffffffffffff\r\nhello\r\n0\r\n\r\n") })],
  ["chunk without CRLF", (h) => serialise({ ...h, framing: ["Transfer-Encoding: chunked"], body: latin1("5\r\nhelloXX0\r\n\r\n") })],
  ["Transfer-Encoding gzip", (h) => serialise({ ...h, framing: ["Transfer-Encoding: gzip"] })],
  ["Transfer-Encoding chunked twice", (h) => serialise({ ...h, framing: ["Transfer-Encoding: chunked, chunked"], body: latin1("0\r\n\r\n") })],
  ["Transfer-Encoding xchunked", (h) => serialise({ ...h, framing: ["Transfer-Encoding: xchunked"] })],
  ["Transfer-Encoding with space before colon", (h) => serialise({ ...h, framing: ["Transfer-Encoding : chunked", `Content-Length: ${h.body.length}`] })],
  ["header without colon", (h) => serialise({ ...h, headers: [...h.headers, "NoColonHere"] })],
  ["space before colon", (h) => serialise({ ...h, headers: [...h.headers, `X-API-Key : ${KEY}`] })],
  ["bad header name", (h) => serialise({ ...h, headers: [...h.headers, "X(API)Key: v"] })],
  ["empty header name", (h) => serialise({ ...h, headers: [...h.headers, ": v"] })],
  ["NUL in header value", (h) => serialise({ ...h, headers: [...h.headers, "X-Request-ID: a\u0000b"] })],
  ["NUL in Authorization", (h) => serialise({ ...h, headers: [...h.headers, `Authorization: Bearer ${KEY}\u0000`] })],
  ["lone CR in header value", (h) => serialise({ ...h, headers: [...h.headers, "X-Request-ID: a\rb"] })],
  ["obs-fold", (h) => serialise({ ...h, headers: [...h.headers, "X-API-Key: part", ` ${KEY}`] })],
  ["DEL in header value", (h) => serialise({ ...h, headers: [...h.headers, "X-Fuzz: a\u007fb"] })],
  ["latin-1 header value", (h) => serialise({ ...h, headers: [...h.headers, "X-Request-ID: \u00e9\u00ff", "X-API-Key: \u00ff\u00fe"] })],
  ["oversized Authorization", (h) => serialise({ ...h, headers: [...h.headers, `Authorization: Bearer ${"k".repeat(70 * 1024)}`] })],
  ["oversized X-API-Key", (h) => serialise({ ...h, headers: [...h.headers, `X-API-Key: ${"k".repeat(20 * 1024)}`] })],
  ["oversized X-Request-ID", (h) => serialise({ ...h, headers: [...h.headers, `X-Request-ID: ${"r".repeat(17 * 1024)}`] })],
  ["300 headers", (h) => serialise({ ...h, headers: [...h.headers, ...Array.from({ length: 300 }, (_, i) => `X-Fuzz-${i}: v`)] })],
  ["300 X-API-Key headers", (h) => serialise({ ...h, headers: [...h.headers, ...Array.from({ length: 300 }, () => `X-API-Key: ${KEY}`)] })],
  ["no Host", (h) => serialise({ ...h, headers: h.headers.filter((l) => !l.startsWith("Host:")) })],
  ["two Hosts", (h) => serialise({ ...h, headers: [...h.headers, "Host: evil.test"] })],
  ["HTTP/1.0 without Host", (h) => serialise({ ...h, line: h.line.replace(/HTTP\/1\.\d$/, "HTTP/1.0"), headers: h.headers.filter((l) => !l.startsWith("Host:")), framing: [`Content-Length: ${h.body.length}`] })],
  ...["", "a b", "[::1", "a/b", "a:99999", "a@b", "%zz", "\u00ff", "127.0.0.1:0"].map((host): [string, (h: Head) => Buffer] => [
    `Host ${JSON.stringify(host)}`,
    (h) => serialise({ ...h, headers: [`Host: ${host}`, ...h.headers.filter((l) => !l.startsWith("Host:"))] }),
  ]),
  ["HTTP/2.0", (h) => serialise({ ...h, line: h.line.replace(/HTTP\/1\.\d$/, "HTTP/2.0") })],
  ["HTTP/1.2", (h) => serialise({ ...h, line: h.line.replace(/HTTP\/1\.\d$/, "HTTP/1.2") })],
  ["HTTP/0.9 line", (h) => serialise({ ...h, line: h.line.replace(/ HTTP\/1\.\d$/, "") })],
  ["lower-case method", (h) => serialise({ ...h, line: h.line.replace("POST", "post") })],
  ["method with NUL", (h) => serialise({ ...h, line: h.line.replace("POST", "PO\u0000ST") })],
  ["double spaces", (h) => serialise({ ...h, line: h.line.replace(/ /g, "  ") })],
  ["absolute-form target", (h) => serialise({ ...h, line: h.line.replace(" /", " http://127.0.0.1/") })],
  ["asterisk target", (h) => serialise({ ...h, line: "POST * HTTP/1.1" })],
  ["target without slash", (h) => serialise({ ...h, line: h.line.replace(" /", " ") })],
  ["70 KiB target", (h) => serialise({ ...h, line: h.line.replace(" /run", ` /run?${"q".repeat(70 * 1024)}`) })],
  ["dot segments", (h) => serialise({ ...h, line: h.line.replace(" /run", " /swagger/../run") })],
  ["encoded dot segments", (h) => serialise({ ...h, line: h.line.replace(" /run", " /health/%2e%2e/run") })],
  ["Expect 100-continue", (h) => serialise({ ...h, headers: [...h.headers, "Expect: 100-continue"] })],
  ["Expect junk", (h) => serialise({ ...h, headers: [...h.headers, "Expect: teapot"] })],
  ["pipelined garbage", (h) => Buffer.concat([serialise(h), latin1("\u0000\u0001GARBAGE / HTTP/1.1\r\n\r\n")])],
  ["pipelined second request", (h) => Buffer.concat([serialise(h), serialise(h)])],
  ["leading CRLFs", (h) => Buffer.concat([latin1("\r\n\r\n"), serialise(h)])],
  ["only garbage", () => latin1("\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003")],
  ["random bytes", () => Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 73 + 11) % 256))],
];

const malformed = fc.tuple(wellFormed, fc.constantFrom(...mutations)).map(
  ([base, [name, mutate]]): RawCase => ({ name, bytes: mutate(base.head), expectStatus: null, requestId: null }),
);

export const rawCase: fc.Arbitrary<RawCase> = fc.oneof(
  { weight: 1, arbitrary: wellFormed.map(({ head: _head, ...rest }): RawCase => rest) },
  { weight: 3, arbitrary: malformed },
);

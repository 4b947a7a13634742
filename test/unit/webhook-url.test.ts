// Callback URL policy: hostile spellings against WEBHOOK_ALLOWED_PREFIXES, and the address classes a callback may never reach by default.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { addressRefusal, checkWebhookUrl, parseWebhookPrefixes, WebhookUrlError, type WebhookPrefix } from "../../src/webhooks/url-policy.ts";

const PORT = 8123;
const prefixes = parseWebhookPrefixes([`http://127.0.0.1:${PORT}/hooks/`, "https://hooks.example.com/ci/"]);
const namedOnly = parseWebhookPrefixes(["https://hooks.example.com/ci/"]);

function verdict(raw: string, list: readonly WebhookPrefix[] = prefixes): string {
  try {
    checkWebhookUrl(raw, list);
    return "ok";
  } catch (err) {
    return err instanceof WebhookUrlError ? err.kind : `other: ${String(err)}`;
  }
}

function errorOf(raw: string, list: readonly WebhookPrefix[]): WebhookUrlError {
  try {
    checkWebhookUrl(raw, list);
  } catch (err) {
    if (err instanceof WebhookUrlError) return err;
    throw err;
  }
  throw new Error(`${raw} was accepted`);
}

const L = `127.0.0.1:${PORT}`;

describe("callback URLs against the allow-list", () => {
  test.each([
    [`http://${L}/hooks/x`, "ok"],
    [`http://${L}/hooks/`, "ok"],
    [`http://${L}/hooks/a/b.json`, "ok"],
    // The WHATWG parser normalises these to 127.0.0.1 before the allow-list sees them.
    [`http://2130706433:${PORT}/hooks/x`, "ok"],
    [`http://0x7f.1:${PORT}/hooks/x`, "ok"],
    [`http://127.1:${PORT}/hooks/x`, "ok"],
    ["HTTPS://HOOKS.EXAMPLE.COM/ci/x", "ok"],
    ["https://hooks.example.com:443/ci/x", "ok"],
    // Path traversal, written out or encoded: refused, not merely checked after collapsing.
    [`http://${L}/hooks/../admin`, "invalid"],
    [`http://${L}/hooks/%2e%2e/admin`, "invalid"],
    [`http://${L}/hooks/.%2E/admin`, "invalid"],
    [`http://${L}/hooks/./x`, "invalid"],
    [`http://${L}/hooks/x/..`, "invalid"],
    [`http://${L}/hooks/..%2Fadmin`, "invalid"],
    [`http://${L}/hooks%2F..`, "invalid"],
    [`http://${L}/hooks/..%5cadmin`, "invalid"],
    [`http://${L}/hooks\\..\\admin`, "invalid"],
    [`http://${L}/hooks/..;/admin`, "invalid"],
    [`http://${L}/hooks/x;jsessionid=1`, "invalid"],
    // Credentials, and "@" tricks that move the host.
    [`http://u:p@${L}/hooks/`, "invalid"],
    [`http://u@${L}/hooks/`, "invalid"],
    [`http://:p@${L}/hooks/`, "invalid"],
    [`http://${L}@evil.example/hooks/`, "invalid"],
    [`http://evil.example#@${L}/hooks/`, "invalid"],
    [`http://evil.example?@${L}/hooks/`, "invalid"],
    [`http://${L}/hooks/x?a=1`, "invalid"],
    [`http://${L}/hooks/x?`, "invalid"],
    [`http://${L}/hooks/x#frag`, "invalid"],
    [`http://${L}/hooks/x#`, "invalid"],
    [`http://${L}/hooks/x\u0000`, "invalid"],
    [`http://${L}/hooks/x\n`, "invalid"],
    [`http://${L}/hooks/\u007fx`, "invalid"],
    [`http://${L}/hooks/a b`, "invalid"],
    [`http://${L}/hooks/a\tb`, "invalid"],
    [` http://${L}/hooks/x`, "invalid"],
    ["file:///etc/passwd", "invalid"],
    [`gopher://${L}/_POST%20/admin`, "invalid"],
    [`ftp://${L}/hooks/`, "invalid"],
    [`ws://${L}/hooks/`, "invalid"],
    ["javascript:alert(1)", "invalid"],
    ["data:text/plain,x", "invalid"],
    ["ext::sh -c id", "invalid"],
    ["ext::sh", "invalid"],
    ["git@hooks.example.com:ci/x", "invalid"],
    ["ssh://git@hooks.example.com/ci/x", "invalid"],
    ["//127.0.0.1/", "invalid"],
    [`//${L}/hooks/x`, "invalid"],
    [`http:/${L}/hooks/x`, "invalid"],
    [`http:\\\\${L}\\hooks\\x`, "invalid"],
    [`-http://${L}/hooks/x`, "invalid"],
    [`http://${L}/hooks/${"x".repeat(2048)}`, "invalid"],
    ["not a url", "invalid"],
    ["", "invalid"],
    // Segment boundaries, hosts that merely start with an allowed one, other schemes and ports.
    ["https://hooks.example.com/ci-evil/x", "not_allowed"],
    ["https://hooks.example.com/ci", "not_allowed"],
    ["https://hooks.example.com/", "not_allowed"],
    ["https://hooks.example.com.evil.example/ci/", "not_allowed"],
    ["https://evil-hooks.example.com/ci/", "not_allowed"],
    ["https://hooks.example.com./ci/", "not_allowed"],
    ["http://hooks.example.com/ci/x", "not_allowed"],
    [`https://${L}/hooks/x`, "not_allowed"],
    [`http://127.0.0.1:${PORT + 1}/hooks/x`, "not_allowed"],
    [`http://127.0.0.1/hooks/x`, "not_allowed"],
    [`http://127.0.0.2:${PORT}/hooks/x`, "not_allowed"],
    [`http://localhost:${PORT}/hooks/x`, "not_allowed"],
    [`http://[::1]:${PORT}/hooks/x`, "not_allowed"],
    [`http://[::ffff:127.0.0.1]:${PORT}/hooks/x`, "not_allowed"],
  ])("%p → %s", (raw, expected) => {
    expect(verdict(raw)).toBe(expected);
  });

  test.each([
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://localhost/",
  ])("%p is not allowed when the prefixes name only hooks.example.com", (raw) => {
    const err = errorOf(raw, namedOnly);
    expect(err.kind).toBe("not_allowed");
    expect(err.message).toContain("WEBHOOK_ALLOWED_PREFIXES: https://hooks.example.com/ci/");
  });

  test("the allow-list is checked on the normalised URL, which is what the target carries", () => {
    const target = checkWebhookUrl(`http://2130706433:${PORT}/hooks/x`, prefixes);
    expect(target.url.href).toBe(`http://${L}/hooks/x`);
    expect(target.prefix).toEqual({ protocol: "http:", host: L, hostname: "127.0.0.1", path: "/hooks/", literal: true });
    expect(checkWebhookUrl("HTTPS://HOOKS.EXAMPLE.COM/ci/x", prefixes).url.href).toBe("https://hooks.example.com/ci/x");
    expect(checkWebhookUrl("https://hooks.example.com/ci/x", prefixes).prefix.literal).toBe(false);
  });

  test("messages name the problem; not_allowed lists the allowed prefixes", () => {
    expect(errorOf(`http://u:p@${L}/hooks/`, prefixes).message).toContain("credentials");
    expect(errorOf(`http://${L}/hooks/../admin`, prefixes).message).toContain('".."');
    expect(errorOf(`http://${L}/hooks/x?a=1`, prefixes).message).toContain("query");
    expect(errorOf("file:///etc/passwd", prefixes).message).toContain("http");
    const refused = errorOf("https://hooks.example.com/ci-evil/x", prefixes);
    expect(refused.message).toContain("https://hooks.example.com/ci-evil/x");
    expect(refused.message).toContain(`http://${L}/hooks/, https://hooks.example.com/ci/`);
  });

  test("with no prefixes every well-formed URL is not allowed, and the message says why", () => {
    for (const raw of ["https://hooks.example.com/ci/x", `http://${L}/hooks/x`, "https://example.org/"]) {
      const err = errorOf(raw, []);
      expect(err.kind).toBe("not_allowed");
      expect(err.message).toContain("WEBHOOK_ALLOWED_PREFIXES is empty");
    }
    // Malformed stays malformed: the syntax checks come first, as for repository URLs.
    expect(verdict("http://u:p@hooks.example.com/ci/", [])).toBe("invalid");
  });

  test("an internal IP literal is admitted where a prefix names exactly that address", () => {
    const own = parseWebhookPrefixes(["http://10.0.0.5/hooks/", "http://[::1]:9000/", "http://localhost:9001/"]);
    expect(verdict("http://10.0.0.5/hooks/x", own)).toBe("ok");
    expect(verdict("http://167772165/hooks/x", own)).toBe("ok");
    expect(verdict("http://10.0.0.6/hooks/x", own)).toBe("not_allowed");
    expect(verdict("http://[::1]:9000/x", own)).toBe("ok");
    expect(verdict("http://localhost:9001/x", own)).toBe("ok");
    expect(verdict("http://127.0.0.1:9001/x", own)).toBe("not_allowed");
  });
});

describe("WEBHOOK_ALLOWED_PREFIXES entries", () => {
  test("normalised, with the literal flag for IP and localhost prefixes", () => {
    expect(parseWebhookPrefixes(["HTTPS://Hooks.Example.COM:443/CI/", "http://2130706433:80/", "http://[::1]:9000/x", "http://LOCALHOST:9001"])).toEqual([
      { protocol: "https:", host: "hooks.example.com", hostname: "hooks.example.com", path: "/CI/", literal: false },
      { protocol: "http:", host: "127.0.0.1", hostname: "127.0.0.1", path: "/", literal: true },
      { protocol: "http:", host: "[::1]:9000", hostname: "::1", path: "/x", literal: true },
      { protocol: "http:", host: "localhost:9001", hostname: "localhost", path: "/", literal: true },
    ]);
  });

  test.each(["not a url", "ftp://hooks.example.com/", "https://u:p@hooks.example.com/", "https://hooks.example.com/?a=1", "https://hooks.example.com/#x", "https://hooks.example.com/a/../b", "https://hooks.example.com/a%2Fb", "https://hooks.example.com/a;b", "https://hooks.example.com/a b"])(
    "%p is refused, and the error names it",
    (entry) => {
      expect(() => parseWebhookPrefixes(["https://ok.example.com/", entry])).toThrow(entry);
    },
  );
});

describe("addressRefusal", () => {
  const named = namedOnly[0] as WebhookPrefix;
  test.each([
    ["93.184.216.34", null],
    ["8.8.8.8", null],
    ["172.15.255.255", null],
    ["172.32.0.1", null],
    ["100.63.255.255", null],
    ["100.128.0.1", null],
    ["192.169.0.1", null],
    ["2606:4700:4700::1111", null],
    ["::ffff:8.8.8.8", null],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:0:7f00:1", "loopback"],
    ["::127.0.0.1", "loopback"],
    ["64:ff9b::127.0.0.1", "loopback"],
    ["169.254.169.254", "link-local (cloud metadata)"],
    ["169.254.1.1", "link-local"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["febf::1", "link-local"],
    ["::ffff:169.254.169.254", "link-local (cloud metadata)"],
    ["10.0.0.5", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["fec0::1", "private"],
    ["::ffff:10.0.0.5", "private"],
    ["::ffff:a00:5", "private"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["100.127.255.255", "carrier-grade NAT"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["not-an-address", "not an IP address"],
  ])("%p → %p", (address, kind) => {
    const reason = addressRefusal(address, named);
    if (kind === null) expect(reason).toBeNull();
    else expect(reason).toContain(kind);
  });

  test("the reason names the host, the address and its class", () => {
    expect(addressRefusal("10.0.0.5", named)).toStartWith("hooks.example.com resolved to 10.0.0.5, a private address");
    const literal = parseWebhookPrefixes(["http://10.0.0.6/"])[0] as WebhookPrefix;
    expect(addressRefusal("10.0.0.5", literal)).toStartWith("10.0.0.6 resolved to 10.0.0.5, a private address");
  });

  test("a prefix naming an address literally admits that address (in any spelling), and nothing else internal", () => {
    const [loop, local, priv, v6] = parseWebhookPrefixes(["http://127.0.0.1:1/", "http://localhost:1/", "http://10.0.0.5/", "http://[fd00::1]/"]) as [
      WebhookPrefix,
      WebhookPrefix,
      WebhookPrefix,
      WebhookPrefix,
    ];
    expect(addressRefusal("127.0.0.1", loop)).toBeNull();
    expect(addressRefusal("::ffff:127.0.0.1", loop)).toBeNull();
    expect(addressRefusal("::ffff:7f00:1", loop)).toBeNull();
    expect(addressRefusal("127.0.0.2", loop)).toContain("loopback");
    expect(addressRefusal("10.0.0.5", loop)).toContain("private");
    expect(addressRefusal("127.0.0.1", local)).toBeNull();
    expect(addressRefusal("::1", local)).toBeNull();
    expect(addressRefusal("10.0.0.5", local)).toContain("private");
    expect(addressRefusal("169.254.169.254", local)).toContain("metadata");
    expect(addressRefusal("10.0.0.5", priv)).toBeNull();
    expect(addressRefusal("10.0.0.6", priv)).toContain("private");
    expect(addressRefusal("fd00:0:0:0:0:0:0:1", v6)).toBeNull();
    expect(addressRefusal("fd00::2", v6)).toContain("private");
    // A public address needs no literal prefix.
    expect(addressRefusal("93.184.216.34", loop)).toBeNull();
  });

  test("an IPv4 address and its IPv4-mapped IPv6 spellings always get the same verdict", () => {
    const named6 = namedOnly[0] as WebhookPrefix;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const bytes = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
        const dotted = bytes.join(".");
        const hex = `::ffff:${((n >>> 16) & 0xffff).toString(16)}:${(n & 0xffff).toString(16)}`;
        const v4 = addressRefusal(dotted, named6) === null;
        expect(addressRefusal(`::ffff:${dotted}`, named6) === null).toBe(v4);
        expect(addressRefusal(hex, named6) === null).toBe(v4);
        // And the URL spellings the WHATWG parser folds into it: the decimal integer and the mapped IPv6 literal.
        expect(verdict(`https://${n}/ci/`, namedOnly)).toBe("not_allowed");
        expect(verdict(`https://[${hex}]/ci/`, namedOnly)).toBe("not_allowed");
      }),
      { numRuns: 300 },
    );
  });
});

// AGENT_ALLOWED_HOSTS patterns and the addresses that are never allowed.
import { expect, test } from "bun:test";
import { AllowList, isNeverAllowed, matches, parsePattern } from "../../src/network/allow-list.ts";

test("patterns: host, *.domain (subdomains only), IPs, with or without a port (default 80 and 443)", () => {
  const p = (text: string) => parsePattern(text);
  expect(p("registry.npmjs.org")).toEqual({ host: "registry.npmjs.org", wildcard: false, port: null, literal: false });
  expect(p("*.PyPI.org:443")).toEqual({ host: "pypi.org", wildcard: true, port: 443, literal: false });
  expect(p("127.0.0.1:8123")).toEqual({ host: "127.0.0.1", wildcard: false, port: 8123, literal: true });
  expect(p("[::1]:80")).toEqual({ host: "::1", wildcard: false, port: 80, literal: true });
  for (const bad of ["", "*", "*.1.2.3.4", "http://x.org", "x.org:0", "x.org:70000", "a b", "x.org/path"]) expect([bad, p(bad)]).toEqual([bad, null]);

  const npm = p("registry.npmjs.org") as NonNullable<ReturnType<typeof p>>;
  expect([matches(npm, "registry.npmjs.org", 443), matches(npm, "REGISTRY.npmjs.org", 80), matches(npm, "registry.npmjs.org", 8080), matches(npm, "evil-registry.npmjs.org", 443)]).toEqual([true, true, false, false]);
  const pypi = p("*.pypi.org:443") as NonNullable<ReturnType<typeof p>>;
  expect([matches(pypi, "files.pypi.org", 443), matches(pypi, "pypi.org", 443), matches(pypi, "evilpypi.org", 443), matches(pypi, "files.pypi.org", 80)]).toEqual([true, false, false, false]);
});

test("loopback, link-local (the metadata address), unspecified — in every spelling — are never allowed", () => {
  const never = ["127.0.0.1", "127.9.9.9", "0.0.0.0", "169.254.169.254", "::1", "::", "fe80::1", "::ffff:127.0.0.1", "::FFFF:169.254.169.254"];
  const fine = ["8.8.8.8", "10.0.0.1", "192.168.1.1", "2001:db8::1", "::ffff:8.8.8.8", "fc00::1"];
  expect(never.filter((a) => !isNeverAllowed(a))).toEqual([]);
  expect(fine.filter((a) => isNeverAllowed(a))).toEqual([]);
});

test("a name that resolves to a never-allowed address is refused unless an IP pattern names it; the server's own port likewise", () => {
  const serverPort = 8080;
  const list = new AllowList(["*.example.test", "127.0.0.1:9000", "localhost:9100", "api.example.test:8080"].map((t) => parsePattern(t) as NonNullable<ReturnType<typeof parsePattern>>), () => serverPort);
  const decide = (host: string, port: number, address: string) => {
    const pattern = list.admits(host, port);
    return pattern ? list.checkAddress(pattern, address, port).allowed : "not listed";
  };
  expect(decide("a.example.test", 443, "93.184.216.34")).toBe(true);
  // DNS rebinding: the name matched, the address it resolved to is what decides.
  expect(decide("a.example.test", 443, "127.0.0.1")).toBe(false);
  expect(decide("a.example.test", 443, "169.254.169.254")).toBe(false);
  expect(decide("127.0.0.1", 9000, "127.0.0.1")).toBe(true);
  expect(decide("localhost", 9100, "127.0.0.1")).toBe(true);
  expect(decide("127.0.0.1", 9001, "127.0.0.1")).toBe("not listed");
  expect(decide("api.example.test", 8080, "127.0.0.1")).toBe(false);
  expect(decide("evil.test", 443, "93.184.216.34")).toBe("not listed");
});

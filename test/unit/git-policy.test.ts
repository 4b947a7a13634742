// Repository URL policy and git branch-name rules, checked without running git.
import { describe, expect, test } from "bun:test";
import { hardenedConfig } from "../../src/git/git-client.ts";
import { branchNameProblem } from "../../src/git/ref-name.ts";
import { parsePrefixes, RepositoryUrlError, resolveRepositoryUrl } from "../../src/git/url-policy.ts";

const prefixes = parsePrefixes(["https://github.com/acme", "https://git.example.com/", "http://127.0.0.1:8081/"]);

function kind(raw: string): string {
  try {
    resolveRepositoryUrl(raw, prefixes);
    return "ok";
  } catch (err) {
    return err instanceof RepositoryUrlError ? err.kind : "other";
  }
}

describe("repository URLs", () => {
  test.each([
    ["https://github.com/acme/app.git", "ok"],
    ["https://github.com/acme", "ok"],
    ["https://GitHub.com/acme/app", "ok"],
    ["https://git.example.com/team/x.git", "ok"],
    ["http://127.0.0.1:8081/repo.git", "ok"],
    ["https://github.com/acme-evil/app.git", "not_allowed"],
    ["https://github.com/acme/../other/app.git", "not_allowed"],
    ["https://github.com/acme/%2e%2e/other/app.git", "not_allowed"],
    ["http://github.com/acme/app.git", "not_allowed"],
    ["https://127.0.0.1:8081/repo.git", "not_allowed"],
    ["http://127.0.0.1:8082/repo.git", "not_allowed"],
    ["http://169.254.169.254/latest/meta-data", "not_allowed"],
    ["http://[::1]:8081/repo.git", "not_allowed"],
    // Normalised to 127.0.0.1 before the allow-list check, and git is handed the normalised URL.
    ["http://2130706433:8081/repo.git", "ok"],
    ["http://2130706434:8081/repo.git", "not_allowed"],
    ["https://github.com.evil.example/acme/app", "not_allowed"],
    ["https://user@github.com/acme/app", "invalid"],
    ["https://:pw@github.com/acme/app", "invalid"],
    ["https://github.com@evil.example/acme/app", "invalid"],
    ["-uhttps://github.com/acme/app", "invalid"],
    ["--upload-pack=touch x", "invalid"],
    ["file:///etc/passwd", "invalid"],
    ["ext::sh -c id", "invalid"],
    ["git@github.com:acme/app.git", "invalid"],
    ["ssh://git@github.com/acme/app.git", "invalid"],
    ["git://github.com/acme/app.git", "invalid"],
    ["https://github.com/acme/app.git#main", "invalid"],
    ["https://github.com/acme/app.git?ref=x", "invalid"],
    ["https://github.com/acme/app\u0000", "invalid"],
    ["https://github.com/acme/app .git", "invalid"],
    ["https://github.com/", "invalid"],
    // Hosts that decode %2F or read "..;" as ".." would resolve these outside "acme/".
    ["https://github.com/acme/..%2Fother/app.git", "invalid"],
    ["https://github.com/acme/..%5cother/app.git", "invalid"],
    ["https://github.com/acme/..;/other/app.git", "invalid"],
    ["not a url", "invalid"],
    ["", "invalid"],
  ])("%p → %s", (raw, expected) => {
    expect(kind(raw)).toBe(expected);
  });

  test("the URL handed to git is normalised, and the origin scopes credentials", () => {
    expect(resolveRepositoryUrl("https://GitHub.com/acme/./app.git", prefixes)).toEqual({
      href: "https://github.com/acme/app.git",
      protocol: "https:",
      host: "github.com",
      origin: "https://github.com/",
    });
  });
});

describe("branch names (git check-ref-format --branch)", () => {
  test.each(["main", "feature/x", "opencode/1a2b3c4d", "release-1.2", "a_b", "UPPER", "x@y"])("%p is valid", (name) => {
    expect(branchNameProblem(name)).toBeNull();
  });
  test.each(["", "-x", "--upload-pack=x", "a..b", "../x", "x/", "/x", "a//b", "x.lock", "a/.hidden", "x.", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "@", "a@{1}", "HEAD", "refs/heads/x", "x".repeat(201), "tab\tname"])(
    "%p is refused",
    (name) => {
      expect(branchNameProblem(name)).not.toBeNull();
    },
  );
});

describe("hardened git config", () => {
  test("hooks off, no inherited credential helpers, https only; the helper holds no token", () => {
    const config = hardenedConfig({ origin: "https://github.com/", username: "x-access-token", token: "ghp_secret123" }, false);
    const map = new Map(config);
    expect(map.get("core.hooksPath")).toBe("/dev/null");
    expect(map.get("credential.helper")).toBe("");
    expect(map.get("protocol.allow")).toBe("never");
    expect(map.get("protocol.https.allow")).toBe("always");
    expect(map.has("protocol.http.allow")).toBe(false);
    expect(map.get("credential.https://github.com.helper")).toContain("$OCS_GIT_TOKEN");
    expect(JSON.stringify(config)).not.toContain("ghp_secret123");
    expect(new Map(hardenedConfig(null, true)).get("protocol.http.allow")).toBe("always");
  });
});

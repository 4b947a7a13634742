// FORGES parsing, the github.com default and which site (and repository path) a repository URL belongs to.
import { describe, expect, test } from "bun:test";
import { parseForges, siteFor, withDefaults } from "../../src/git/forge/sites.ts";
import type { ForgeSite } from "../../src/git/forge/types.ts";

describe("parseForges", () => {
  test("entries with and without an API URL, defaults per kind, normalised prefixes", () => {
    const raw = "https://GitLab.Corp.example/=gitlab, https://ghe.corp.example/=github:https://ghe.corp.example/api/v3/, http://127.0.0.1:8080/=gitea,https://github.com/acme=github, https://code.example:8443/team=Gitea";
    expect(parseForges(raw)).toEqual([
      { prefix: "https://gitlab.corp.example/", kind: "gitlab", apiUrl: "https://gitlab.corp.example/api/v4" },
      { prefix: "https://ghe.corp.example/", kind: "github", apiUrl: "https://ghe.corp.example/api/v3" },
      { prefix: "http://127.0.0.1:8080/", kind: "gitea", apiUrl: "http://127.0.0.1:8080/api/v1" },
      { prefix: "https://github.com/acme/", kind: "github", apiUrl: "https://api.github.com" },
      { prefix: "https://code.example:8443/team/", kind: "gitea", apiUrl: "https://code.example:8443/api/v1" },
    ]);
    expect(parseForges("https://ghe.example/=github")).toEqual([{ prefix: "https://ghe.example/", kind: "github", apiUrl: "https://ghe.example/api/v3" }]);
    expect(parseForges("https://h.example:443/=gitlab:https://api.h.example:443/gl/api/v4")).toEqual([
      { prefix: "https://h.example/", kind: "gitlab", apiUrl: "https://api.h.example/gl/api/v4" },
    ]);
    expect(parseForges("")).toEqual([]);
    expect(parseForges(" , ")).toEqual([]);
  });

  test.each([
    ["https://h.example/", /entry 1 "https:\/\/h.example\/": expected <url prefix>=<kind>/],
    ["=github", /expected <url prefix>=<kind>/],
    ["https://h.example/=bitbucket", /entry 1 .*kind must be one of github, gitlab, gitea/],
    ["https://ok.example/=gitea, not a url=gitlab", /entry 2 "not a url=gitlab": the URL prefix is not a URL/],
    ["ftp://h.example/=gitea", /URL prefix must be an http\(s\) URL/],
    ["https://h.example/=github:ftp://h.example/api", /API URL must be an http\(s\) URL/],
    ["https://h.example/=github:http://h.example/api/v3", /an http:\/\/ API URL needs an http:\/\/ URL prefix/],
    ["https://h.example/=gitlab:", /the API URL is not a URL/],
    ["https://h.example/a=gitlab, https://H.example/a/=gitea", /entry 2 .*prefix https:\/\/h.example\/a\/ is configured twice/],
  ])("%p is refused", (raw, message) => {
    expect(() => parseForges(raw)).toThrow(message);
  });

  test.each([
    "https://user:s3cr3t-tok@h.example/=gitlab",
    "https://h.example/?private_token=s3cr3t-tok=gitlab",
    "https://h.example/#s3cr3t-tok=gitlab",
    "https://h.example/=github:https://x:s3cr3t-tok@h.example/api/v3",
    "https://h.example/=github:https://h.example/api/v3?access_token=s3cr3t-tok",
  ])("%p is refused without echoing what could be a secret", (raw) => {
    let message = "";
    try {
      parseForges(raw);
    } catch (err) {
      message = err instanceof Error ? err.message : String(err);
    }
    expect(message).toContain("FORGES entry 1 (not shown");
    expect(message).not.toContain("s3cr3t");
  });
});

describe("withDefaults", () => {
  test("adds github.com unless that prefix is configured", () => {
    const gitlab: ForgeSite = { prefix: "https://gitlab.example/", kind: "gitlab", apiUrl: "https://gitlab.example/api/v4" };
    expect(withDefaults([gitlab])).toEqual([gitlab, { prefix: "https://github.com/", kind: "github", apiUrl: "https://api.github.com" }]);
    expect(withDefaults([])).toEqual([{ prefix: "https://github.com/", kind: "github", apiUrl: "https://api.github.com" }]);
    const own = parseForges("https://github.com/=github:https://proxy.example/github-api");
    expect(withDefaults(own)).toEqual(own);
    // A narrower github.com prefix is not "that prefix": github.com stays known for everything else.
    expect(withDefaults(parseForges("https://github.com/acme/=github"))).toHaveLength(2);
  });
});

describe("siteFor", () => {
  const sites = withDefaults(parseForges("https://h.example/acme=gitea, https://h.example/=gitlab, https://h.example/acme/special/=github:https://h.example/gh-api, http://127.0.0.1:8080/=gitea"));
  const kindOf = (href: string) => {
    const found = siteFor(sites, href);
    return found ? [found.site.kind, found.repoPath] : null;
  };

  test.each([
    ["https://github.com/owner/repo.git", ["github", "owner/repo"]],
    ["https://GitHub.COM/owner/repo", ["github", "owner/repo"]],
    ["https://github.com/owner/repo/", ["github", "owner/repo"]],
    ["https://h.example/acme/app.git", ["gitea", "acme/app"]],
    ["https://h.example/acme", ["gitea", "acme"]],
    ["https://H.EXAMPLE/acme/app", ["gitea", "acme/app"]],
    // Segment boundaries: "acme" does not admit "acme-evil"; that falls to the host-wide GitLab entry.
    ["https://h.example/acme-evil/app.git", ["gitlab", "acme-evil/app"]],
    ["https://h.example/group/sub/project.git", ["gitlab", "group/sub/project"]],
    ["https://h.example/acme/special/app", ["github", "acme/special/app"]],
    ["https://h.example/acme/specialist/app", ["gitea", "acme/specialist/app"]],
    ["http://127.0.0.1:8080/team/repo.git", ["gitea", "team/repo"]],
    ["https://h.example/acme/my%20app.git", ["gitea", "acme/my app"]],
    ["https://h.example/repo.git.git", ["gitlab", "repo.git"]],
  ])("%p → %p", (href, expected) => {
    expect(kindOf(href)).toEqual(expected);
  });

  test.each([
    ["http://github.com/owner/repo", "scheme differs"],
    ["https://127.0.0.1:8080/team/repo", "scheme differs"],
    ["http://127.0.0.1:8081/team/repo", "port differs"],
    ["https://github.com.evil.example/owner/repo", "another host"],
    ["https://gitlab.example/owner/repo", "unknown host"],
    ["https://github.com/", "no repository path"],
    ["not a url", "not a URL"],
  ])("%p → null (%s)", (href) => {
    expect(siteFor(sites, href)).toBeNull();
  });

  test("the longest prefix wins whatever the order", () => {
    const reversed = [...sites].reverse();
    expect(siteFor(reversed, "https://h.example/acme/special/x")?.site.apiUrl).toBe("https://h.example/gh-api");
    expect(siteFor(reversed, "https://h.example/acme/x")?.site.kind).toBe("gitea");
  });
});

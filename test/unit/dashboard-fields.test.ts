// The fields the dashboard lists and links: a run's title from its prompt, and a pushed branch's and commit's pages per forge.
import { describe, expect, test } from "bun:test";
import { parseForges, withDefaults } from "../../src/git/forge/sites.ts";
import { webLinks } from "../../src/git/forge/web-links.ts";
import { TITLE_CHARS, titleOf } from "../../src/runs/admission.ts";

describe("titleOf", () => {
  test.each([
    ["Fix the bug", "Fix the bug"],
    ["\n\n   Fix\tthe   bug  \nthen the rest of the prompt", "Fix the bug"],
    ["line one\r\nline two", "line one"],
    ["   \n  \n", ""],
    ["x".repeat(TITLE_CHARS), "x".repeat(TITLE_CHARS)],
    ["x".repeat(TITLE_CHARS + 1), `${"x".repeat(TITLE_CHARS - 1)}…`],
    // Cut by characters, never inside one (an emoji is two UTF-16 units).
    ["😀".repeat(TITLE_CHARS + 5), `${"😀".repeat(TITLE_CHARS - 1)}…`],
  ])("%p → %p", (prompt, title) => {
    expect(titleOf(prompt)).toBe(title);
  });
});

describe("webLinks", () => {
  const sites = withDefaults(parseForges("https://gitlab.example.com/=gitlab,https://code.example.org/git/=gitea:https://code.example.org/api/v1"));
  const sha = "0123456789abcdef0123456789abcdef01234567";

  test("GitHub, GitLab (nested groups) and Gitea under a path, with each segment of the branch encoded", () => {
    expect([
      webLinks(sites, "https://github.com/acme/app.git", "opencode/fix #1", sha),
      webLinks(sites, "https://gitlab.example.com/group/sub/app.git", "feature/x", sha),
      webLinks(sites, "https://code.example.org/git/team/app", "main", sha),
    ]).toEqual([
      { branch: "https://github.com/acme/app/tree/opencode/fix%20%231", commit: `https://github.com/acme/app/commit/${sha}` },
      { branch: "https://gitlab.example.com/group/sub/app/-/tree/feature/x", commit: `https://gitlab.example.com/group/sub/app/-/commit/${sha}` },
      { branch: "https://code.example.org/git/team/app/src/branch/main", commit: `https://code.example.org/git/team/app/commit/${sha}` },
    ]);
  });

  test("no forge for the repository: null; no branch or a commit that is not an id: that link null", () => {
    expect(webLinks(sites, "https://git.internal/acme/app.git", "main", sha)).toBeNull();
    expect(webLinks(sites, "https://github.com/acme/app.git", null, "../../evil")).toEqual({ branch: null, commit: null });
  });
});

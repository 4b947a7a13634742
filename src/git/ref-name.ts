// git's branch-name rules (git check-ref-format --branch), checked without running git.

const MAX_BRANCH_LENGTH = 200;
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0020\u007f~^:?*[\\]/;

/** Why `name` is not a valid branch name, or null when it is. */
export function branchNameProblem(name: string): string | null {
  if (name.length === 0) return "must not be empty";
  if (name.length > MAX_BRANCH_LENGTH) return `must be at most ${MAX_BRANCH_LENGTH} characters`;
  if (name.startsWith("-")) return "must not start with '-'";
  if (FORBIDDEN.test(name)) return "must not contain spaces, control characters or any of ~ ^ : ? * [ \\";
  if (name === "@" || name.includes("@{")) return "must not be '@' or contain '@{'";
  if (name.includes("..")) return "must not contain '..'";
  if (name.startsWith("/") || name.endsWith("/") || name.includes("//")) return "must not start or end with '/' or contain '//'";
  if (name.endsWith(".")) return "must not end with '.'";
  if (name === "HEAD" || name.startsWith("refs/")) return "must be a plain branch name (not HEAD or refs/…)";
  for (const part of name.split("/")) {
    if (part.startsWith(".")) return "no path component may start with '.'";
    if (part.endsWith(".lock")) return "no path component may end with '.lock'";
  }
  return null;
}

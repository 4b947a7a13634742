// Generates a repository of ~5,000 files and ~200 commits with git fast-import (seconds, not minutes).
/** Writes the history into the bare repository at `bare` (branch main): `commits` commits adding `filesPerCommit` files each. */
export async function generateRepo(bare: string, commits = 200, filesPerCommit = 25): Promise<void> {
  const lines: string[] = [];
  // Deterministic pseudo-random text: compresses about as badly as real source does (≈2×), unlike a repeated line.
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const words = ["const", "return", "value", "agent", "export", "function", "await", "string", "number", "result", "config", "=>", "{", "}", "(", ")", ";"];
  const text = (n: number) => Array.from({ length: n }, () => words[Math.floor(random() * words.length)] + (random() < 0.5 ? String(Math.floor(random() * 1e6)) : "")).join(" ");
  for (let c = 0; c < commits; c++) {
    const message = `commit ${c}`;
    // Successive commits to one ref chain by themselves.
    lines.push("commit refs/heads/main", `committer Bench <bench@example.test> ${1_700_000_000 + c * 60} +0000`, `data ${message.length}`, message);
    for (let f = 0; f < filesPerCommit; f++) {
      const n = c * filesPerCommit + f;
      const content = `// file ${n}\n${text(120)}\n`;
      lines.push(`M 644 inline src/dir${n % 50}/file${n}.ts`, `data ${Buffer.byteLength(content)}`, content);
    }
    // Touch a shared file every commit, so history has modifications too.
    const readme = `# bench repo\n\nrevision ${c}\n`;
    lines.push("M 644 inline README.md", `data ${Buffer.byteLength(readme)}`, readme, "");
  }
  const proc = Bun.spawn(["git", "fast-import", "--quiet"], {
    cwd: bare,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", GIT_DIR: bare, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
    stdin: new Blob([lines.join("\n") + "\n"]),
    stdout: "ignore",
    stderr: "pipe",
  });
  if ((await proc.exited) !== 0) throw new Error(`fast-import failed: ${await new Response(proc.stderr).text()}`);
  // fast-import's packs are not delta-compressed: repack the way a hosted repository is packed.
  await Bun.spawn(["git", "--git-dir", bare, "repack", "-a", "-d", "-q"], { stdout: "ignore", stderr: "ignore" }).exited;
}

// Builds the single-file executable; the one place its flags live (package.json, Docker, tests and benchmarks call it).
import path from "node:path";

const ROOT = path.resolve(import.meta.dir, "..");

/**
 * --bytecode halves start-up (≈200 → ≈90 ms to the first /health; it needs ESM output).
 * No .env or bunfig.toml autoloading: configuration comes from the environment only, and a
 * bunfig.toml in the working directory could preload code into the server.
 */
export const BUILD_FLAGS = ["--compile", "--minify", "--bytecode", "--format=esm", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"];

export async function buildBinary(outfile: string): Promise<void> {
  const proc = Bun.spawn([process.execPath, "build", path.join(ROOT, "src/main.ts"), ...BUILD_FLAGS, "--outfile", outfile], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`bun build failed (${code}):\n${out}${err}`);
}

if (import.meta.main) {
  const at = process.argv.indexOf("--outfile");
  const outfile = path.resolve((at > 0 ? process.argv[at + 1] : undefined) ?? path.join(ROOT, "dist/opencode-server"));
  await buildBinary(outfile);
  console.log(`built ${path.relative(process.cwd(), outfile) || outfile}`);
}

// Generates a repository of realistic size with git fast-import — thousands of files, thousands of commits, binary assets —
// and caches the bare result on disk, keyed by its parameters, so it is built once per machine.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";

export interface RepoShape {
  commits: number;
  textFiles: number;
  /** Binary assets in the first commit (incompressible bytes). */
  assets: number;
  assetBytes: number;
  /** Every this many commits one asset is replaced by new bytes: most of the packed history. */
  assetEvery: number;
}

/** About what the issue measured: 20,000 commits, ~3,040 files, ~200 MB packed. */
export const REALISTIC: RepoShape = { commits: 20_000, textFiles: 3_000, assets: 40, assetBytes: 512 * 1024, assetEvery: 70 };
/** Small enough for `--quick` (seconds to build). */
export const SMALL: RepoShape = { commits: 400, textFiles: 300, assets: 4, assetBytes: 64 * 1024, assetEvery: 50 };

/** Bumped whenever the generator's output changes, so a cached repository of the old kind is not reused. */
const GENERATOR_VERSION = 1;

const GIT_ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" };

/** Deterministic pseudo-random numbers (xorshift32): the same repository on every machine. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

const WORDS = ["const", "return", "value", "agent", "export", "function", "await", "string", "number", "result", "config", "=>", "{", "}", "(", ")", ";", "if", "else", "import"];

async function git(cwd: string, ...args: string[]): Promise<string> {
  const proc = Bun.spawn(["git", ...args], { cwd, env: GIT_ENV, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`git ${args.join(" ")} failed: ${err}`);
  return out;
}

/** Writes the history into the bare repository at `bare` (branch main), streaming it to fast-import. */
export async function generateRepo(bare: string, shape: RepoShape): Promise<void> {
  const next = prng(42);
  const line = () => Array.from({ length: 8 }, () => WORDS[next() % WORDS.length] + (next() % 2 ? String(next() % 1e6) : "")).join(" ");
  const files = Array.from({ length: shape.textFiles }, () => Array.from({ length: 20 + (next() % 30) }, line));
  const proc = Bun.spawn(["git", "fast-import", "--quiet", "--depth=50"], { cwd: bare, env: { ...GIT_ENV, GIT_DIR: bare }, stdin: "pipe", stdout: "ignore", stderr: "pipe" });
  const out = proc.stdin;
  const enc = new TextEncoder();
  const data = (bytes: Uint8Array) => {
    out.write(enc.encode(`data ${bytes.length}\n`));
    out.write(bytes);
    out.write(enc.encode("\n"));
  };
  const text = (n: number) => enc.encode(`// file ${n}\n${(files[n] as string[]).join("\n")}\n`);
  const asset = () => {
    const words = new Uint32Array(shape.assetBytes / 4);
    for (let i = 0; i < words.length; i++) words[i] = next();
    return new Uint8Array(words.buffer);
  };
  const textPath = (n: number) => `src/mod${n % 60}/file${n}.ts`;
  for (let c = 0; c < shape.commits; c++) {
    const message = enc.encode(c === 0 ? "initial import" : `change ${c}`);
    out.write(enc.encode(`commit refs/heads/main\ncommitter Bench <bench@example.test> ${1_600_000_000 + c * 600} +0000\n`));
    data(message);
    if (c === 0) {
      for (let n = 0; n < shape.textFiles; n++) {
        out.write(enc.encode(`M 644 inline ${textPath(n)}\n`));
        data(text(n));
      }
      for (let a = 0; a < shape.assets; a++) {
        out.write(enc.encode(`M 644 inline assets/asset${a}.bin\n`));
        data(asset());
      }
    } else {
      // A small edit to a few files, as most commits are.
      for (let k = 0; k < 3; k++) {
        const n = next() % shape.textFiles;
        const lines = files[n] as string[];
        lines[next() % lines.length] = line();
        out.write(enc.encode(`M 644 inline ${textPath(n)}\n`));
        data(text(n));
      }
      if (c % shape.assetEvery === 0) {
        out.write(enc.encode(`M 644 inline assets/asset${next() % shape.assets}.bin\n`));
        data(asset());
      }
    }
    out.write(enc.encode("\n"));
    if (c % 200 === 0) await out.flush();
  }
  await out.end();
  if ((await proc.exited) !== 0) throw new Error(`fast-import failed: ${await new Response(proc.stderr).text()}`);
  // One pack, as a hosted repository keeps it (fast-import's deltas are reused, not recomputed).
  await git(bare, "-c", "pack.threads=2", "repack", "-a", "-d", "-q");
}

/** Bytes of the repository's packs. */
export async function packedBytes(bare: string): Promise<number> {
  const out = await git(bare, "count-objects", "-v");
  return Number(/size-pack: (\d+)/.exec(out)?.[1] ?? 0) * 1024;
}

/**
 * The bare repository of `shape` under `cacheDir` (built on first use: minutes for REALISTIC), keyed by the
 * shape and the generator's version. Built beside its final place and renamed in, so a half-built one is never used.
 */
export async function cachedRepo(cacheDir: string, shape: RepoShape): Promise<string> {
  const key = createHash("sha256").update(JSON.stringify({ ...shape, v: GENERATOR_VERSION })).digest("hex").slice(0, 16);
  const final = path.join(cacheDir, `bench-repo-${key}.git`);
  if (existsSync(path.join(final, "HEAD"))) return final;
  mkdirSync(cacheDir, { recursive: true });
  const building = `${final}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  try {
    await git(cacheDir, "init", "--quiet", "--bare", "-b", "main", building);
    await generateRepo(building, shape);
    renameSync(building, final);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return final;
}

// Docker helpers for the smoke tests: run the CLI, and build the stand-in base images (no registry here) once, cached on disk.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export const CACHE_DIR = process.env.OCS_CACHE_DIR ?? "/var/cache/opencode-server-ci";
const MIRROR = process.env.OCS_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
// Extra CAs the host trusts (e.g. a TLS-intercepting egress proxy): the build stage's `bun install`
// needs them to reach the npm registry. They go into the stand-in bun image only — never into the
// project's Dockerfile, and never into the runtime image.
const EXTRA_CA_DIR = process.env.OCS_EXTRA_CA_DIR ?? "/usr/local/share/ca-certificates";

function extraCaFiles(): string[] {
  if (!existsSync(EXTRA_CA_DIR)) return [];
  return readdirSync(EXTRA_CA_DIR, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".crt"))
    .sort()
    .map((f) => path.join(EXTRA_CA_DIR, f));
}

function caFingerprint(files: string[]): string {
  if (files.length === 0) return "none";
  const hash = new Bun.CryptoHasher("sha256");
  for (const f of files) hash.update(readFileSync(f));
  return hash.digest("hex").slice(0, 12);
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export async function sh(cmd: string[], opts: { stdin?: Blob; cwd?: string; check?: boolean } = {}): Promise<Result> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, stdin: opts.stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (opts.check !== false && code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}):\n${stderr || stdout}`);
  return { code, stdout, stderr };
}

export const docker = (...args: string[]) => sh(["docker", ...args]);

export async function imageExists(tag: string): Promise<boolean> {
  return (await sh(["docker", "image", "inspect", tag], { check: false })).code === 0;
}

async function loadOrBuild(tag: string, file: string, build: () => Promise<void>): Promise<"present" | "loaded" | "built"> {
  if (await imageExists(tag)) return "present";
  mkdirSync(CACHE_DIR, { recursive: true });
  const tar = path.join(CACHE_DIR, file);
  if (existsSync(tar)) {
    await docker("load", "-i", tar);
    if (await imageExists(tag)) return "loaded";
  }
  await build();
  await docker("save", "-o", tar, tag);
  return "built";
}

// What makes the real image "slim": dpkg skips docs, man pages and translations, apt keeps no caches.
const SLIM_DPKG = `path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
`;
const SLIM_APT = `DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
`;

/** debian:bookworm-slim, as `debootstrap --variant=minbase` imported into Docker and slimmed like the real one. */
async function buildDebianSlim(tag: string): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), "ocs-rootfs-"));
  try {
    await sh(["debootstrap", "--variant=minbase", "bookworm", root, MIRROR]);
    writeFileSync(path.join(root, "etc/dpkg/dpkg.cfg.d/docker-slim"), SLIM_DPKG);
    writeFileSync(path.join(root, "etc/apt/apt.conf.d/docker-clean"), SLIM_APT);
    for (const dir of ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists", "var/cache/apt"]) {
      rmSync(path.join(root, dir), { recursive: true, force: true });
      mkdirSync(path.join(root, dir), { recursive: true });
    }
    const tar = Bun.spawn(["tar", "-C", root, "-c", "."], { stdout: "pipe" });
    const imported = Bun.spawn(
      ["docker", "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--change", 'CMD ["bash"]', "-", tag],
      { stdin: tar.stdout, stdout: "pipe", stderr: "pipe" },
    );
    if ((await imported.exited) !== 0 || (await tar.exited) !== 0) throw new Error(`docker import failed: ${await new Response(imported.stderr).text()}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** oven/bun:<version>: Debian slim plus ca-certificates and the npm-installed bun binary, like the real image. */
async function buildBun(tag: string, slim: string, caFiles: string[]): Promise<void> {
  const ctx = mkdtempSync(path.join(os.tmpdir(), "ocs-bunimg-"));
  try {
    copyFileSync(realpathSync(process.execPath), path.join(ctx, "bun"));
    mkdirSync(path.join(ctx, "extra-ca"));
    caFiles.forEach((f, i) => copyFileSync(f, path.join(ctx, "extra-ca", `host-${i}.crt`)));
    writeFileSync(
      path.join(ctx, "Dockerfile"),
      `FROM ${slim}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
COPY bun /usr/local/bin/bun
RUN chmod 0755 /usr/local/bin/bun && ln -s /usr/local/bin/bun /usr/local/bin/bunx && bun --version
WORKDIR /home/bun/app
`,
    );
    await docker("build", "--network", "host", "-t", tag, ctx);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

/** Makes the Dockerfile's base images available offline; returns what had to be done for each. */
export async function ensureBaseImages(bunVersion: string): Promise<Record<string, string>> {
  const slim = "debian:bookworm-slim";
  const bun = `oven/bun:${bunVersion}`;
  // Bump the recipe version when a builder changes, so a stale cached image is not reused.
  const slimState = await loadOrBuild(slim, "debian-bookworm-slim-r2.tar", () => buildDebianSlim(slim));
  const caFiles = extraCaFiles();
  const bunState = await loadOrBuild(bun, `oven-bun-${bunVersion}-r2-ca-${caFingerprint(caFiles)}.tar`, () => buildBun(bun, slim, caFiles));
  return { [slim]: slimState, [bun]: bunState };
}

/** A free TCP port on 127.0.0.1 (the container uses the host's network). */
export function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

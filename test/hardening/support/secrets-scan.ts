// Canary secrets and a scanner that looks for them (raw, base64 at every alignment, hex) in text, files, git objects and /proc.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

export interface Canary {
  /** Which secret this stands for, e.g. "GIT_TOKEN". */
  name: string;
  value: string;
}

/** A unique, obviously fake secret: long enough that a chance match is impossible. */
export function canary(name: string): Canary {
  return { name, value: `canary-${name.toLowerCase().replaceAll("_", "-")}-${randomBytes(12).toString("hex")}` };
}

export interface Hit {
  place: string;
  canary: string;
  /** How it was spelled: raw, base64 (the spelling HTTP Basic auth uses), hex. */
  form: string;
  context: string;
}

interface Needle {
  canary: string;
  form: string;
  bytes: Buffer;
}

/**
 * The parts of base64(prefix + secret) that depend on the secret alone, for each of the three
 * alignments a prefix can give it: a secret inside any base64 blob (an `Authorization: Basic`
 * header, a JWT, a data: URL) contains one of these.
 */
function base64Cores(value: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const encoded = Buffer.concat([Buffer.alloc(k), Buffer.from(value)]).toString("base64");
    const fullGroups = Math.floor((k + value.length) / 3) * 4;
    // The first group mixes in the prefix when there is one; a trailing partial group mixes in whatever follows.
    out.push(encoded.slice(k === 0 ? 0 : 4, fullGroups));
  }
  return out;
}

function needlesOf(c: Canary): Needle[] {
  const forms: [string, string][] = [["raw", c.value], ["hex", Buffer.from(c.value).toString("hex")]];
  for (const core of base64Cores(c.value)) {
    forms.push(["base64", core], ["base64url", core.replaceAll("+", "-").replaceAll("/", "_")]);
  }
  return forms.map(([form, text]) => ({ canary: c.name, form, bytes: Buffer.from(text) }));
}

const CONTEXT = 60;

/** Counts every place and byte it reads and records every canary it finds there. */
export class SecretScanner {
  readonly hits: Hit[] = [];
  readonly places: string[] = [];
  bytes = 0;
  private readonly needles: Needle[];

  constructor(readonly canaries: Canary[]) {
    this.needles = [...new Map(canaries.flatMap(needlesOf).map((n) => [`${n.form}:${n.bytes.toString()}`, n])).values()];
  }

  /** Canary names found in `data`, without recording anything (for the positive controls). */
  find(data: string | Buffer): string[] {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    return [...new Set(this.needles.filter((n) => buf.includes(n.bytes)).map((n) => n.canary))];
  }

  scan(place: string, data: string | Buffer): void {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    this.places.push(place);
    this.bytes += buf.length;
    for (const n of this.needles) {
      for (let at = buf.indexOf(n.bytes); at !== -1; at = buf.indexOf(n.bytes, at + 1)) {
        const context = buf.subarray(Math.max(0, at - CONTEXT), at + n.bytes.length + CONTEXT).toString("latin1");
        this.hits.push({ place, canary: n.canary, form: n.form, context });
      }
    }
  }

  /** Every regular file under `dir` (recursively), except the paths `skip` names. Returns how many files were read. */
  scanTree(label: string, dir: string, skip: (file: string) => boolean = () => false): number {
    let files = 0;
    let entries: string[];
    try {
      entries = readdirSync(dir, { recursive: true }) as string[];
    } catch {
      return 0;
    }
    for (const rel of entries.sort()) {
      const file = path.join(dir, rel);
      let data: Buffer;
      try {
        if (!statSync(file).isFile() || skip(file)) continue;
        data = readFileSync(file);
      } catch {
        // Removed between the listing and the read (a WAL checkpoint, a finished fetch).
        continue;
      }
      this.scan(`${label}/${rel}`, data);
      files++;
    }
    return files;
  }
}

/** Every object of a git repository, decompressed (pack files hide their content from a byte grep), plus its refs. */
export function gitObjects(repo: string): Buffer {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" };
  const run = (...args: string[]) => {
    const r = Bun.spawnSync(["git", "--git-dir", repo, "-c", "safe.directory=*", ...args], { env, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} in ${repo} failed: ${r.stderr.toString()}`);
    return r.stdout;
  };
  return Buffer.concat([run("for-each-ref"), run("cat-file", "--batch-all-objects", "--batch", "--unordered")]);
}

/** A process's environment and command line from /proc, or null when it is gone or unreadable. */
export function procEnviron(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/environ`, "latin1");
  } catch {
    return null;
  }
}

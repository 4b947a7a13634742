// Architecture rules on the real import graph of src/: no cycles, a run layer that knows nothing of HTTP, and process.env read only by the config module and the entry points.
//
// The graph comes from madge (dependency-tree + precinct + filing-cabinet), resolving imports as tsconfig.json does;
// type-only imports count as edges (madge's default), since they couple modules as much as value imports do.
//
// Why madge is loaded through mock.module: its TypeScript detective parses with @typescript-eslint/typescript-estree,
// whose helper ts-api-utils is hoisted to the root node_modules and so `require("typescript")`s this repo's
// TypeScript 7 — the native port, whose package exports no JS compiler API (only its version) — and loading
// madge throws. madge's own dependencies (filing-cabinet, dependency-tree, precinct) install TypeScript 5.9 for
// themselves; before madge loads, this file points the root "typescript" at that copy. The mock lasts for the
// rest of the `bun test` process, but nothing else here loads TypeScript's JS API (tsc runs as its own binary).
// Tried and rejected: dependency-cruiser 18 (its TypeScript support stops below 7, and without it it reads no
// .ts file at all: 0 modules); madge's own options (precinct picks the TypeScript detective by extension and
// the detective hard-codes its parser). Run time: about 1.5 s.
import { describe, expect, mock, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

interface MadgeResult {
  obj(): Record<string, string[]>;
  circular(): string[][];
  warnings(): { skipped: string[] };
}
type Madge = (target: string, config: Record<string, unknown>) => Promise<MadgeResult>;

const ROOT = path.resolve(import.meta.dir, "../..");
const load = createRequire(import.meta.url);
const ts5 = load(load.resolve("typescript", { paths: [path.dirname(load.resolve("filing-cabinet"))] })) as { version: string; createSourceFile?: unknown };
if (typeof ts5.createSourceFile !== "function") throw new Error(`madge's TypeScript ${ts5.version} has no JS API: see the comment at the top of this file`);
mock.module("typescript", () => ({ ...ts5, default: ts5 }));
const madge = load("madge") as Madge;

const result = await madge(path.join(ROOT, "src"), {
  baseDir: ROOT,
  fileExtensions: ["ts"],
  tsConfig: path.join(ROOT, "tsconfig.json"),
  // Records each file's npm imports too (as node_modules/… paths), without walking into them.
  includeNpm: true,
  detectiveOptions: { ts: { skipTypeImports: false, skipAsyncImports: false } },
});
/** File → what it imports: src/… files, package.json, node_modules/… paths. */
const graph = result.obj();
const sourceFiles = [...new Bun.Glob("src/**/*.ts").scanSync({ cwd: ROOT })].sort();

/** The npm package a node_modules/… path belongs to ("elysia", "@elysiajs/openapi"), or null for a repo file. */
function packageOf(dep: string): string | null {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(dep);
  return m ? (m[1] as string) : null;
}

/** Every file `from` reaches, each with the import chain that reaches it (from first). */
function reach(from: string): Map<string, string[]> {
  const chains = new Map<string, string[]>([[from, [from]]]);
  const queue = [from];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const dep of graph[file] ?? []) {
      if (chains.has(dep)) continue;
      chains.set(dep, [...(chains.get(file) as string[]), dep]);
      // npm packages are leaves: what elysia imports is not this repo's architecture.
      if (packageOf(dep) === null) queue.push(dep);
    }
  }
  return chains;
}

describe("architecture of src/", () => {
  test("the graph is real: every src file is in it, every import resolved, and the entry reaches the scheduler", () => {
    expect(sourceFiles.length).toBeGreaterThan(50);
    expect(sourceFiles.filter((f) => !(f in graph))).toEqual([]);
    // An import madge could not resolve would silently be a missing edge.
    expect(result.warnings().skipped).toEqual([]);
    for (const f of ["src/main.ts", "src/runs/service.ts", "src/runs/scheduler.ts"]) expect(graph[f]).toBeDefined();
    expect(reach("src/main.ts").get("src/runs/scheduler.ts")?.[0]).toBe("src/main.ts");
    // npm imports are recorded, so the package check below cannot pass by seeing none.
    expect((graph["src/app.ts"] ?? []).map(packageOf)).toContain("elysia");
  });

  test("no import cycle", () => {
    const cycles = result.circular().map((c) => [...c, c[0]].join(" -> "));
    expect(cycles, `import cycles in src/ (type-only imports count):\n${cycles.join("\n")}\n`).toEqual([]);
  });

  test("the run layer (src/runs/, src/store/) reaches no src/http/, src/modules/ or Elysia package, even transitively", () => {
    const layer = sourceFiles.filter((f) => f.startsWith("src/runs/") || f.startsWith("src/store/"));
    expect(layer).toContain("src/runs/scheduler.ts");
    const violations: string[] = [];
    for (const file of layer) {
      for (const [dep, chain] of reach(file)) {
        const pkg = packageOf(dep);
        const http = dep.startsWith("src/http/") || dep.startsWith("src/modules/");
        const elysia = pkg === "elysia" || pkg?.startsWith("@elysiajs/") === true;
        if (http || elysia) violations.push(chain.map((d) => packageOf(d) ?? d).join(" -> "));
      }
    }
    expect(violations, `the run layer must not depend on the HTTP layer:\n${violations.join("\n")}\n`).toEqual([]);
  });

  // A helper that runs as a process of its own from source (`bun src/sandbox/landlock-exec.ts`) is an entry point
  // like src/main.ts: its `if (import.meta.main)` line may hand its environment over — that line, nothing else.
  test("only the config module (src/config*), src/main.ts and helper entry lines read the environment", () => {
    const readers = sourceFiles
      .filter((f) => !f.startsWith("src/config") && f !== "src/main.ts")
      .flatMap((f) =>
        readFileSync(path.join(ROOT, f), "utf8")
          .split("\n")
          .flatMap((line, i) =>
            /\b(process\.env|Bun\.env|import\.meta\.env)\b/.test(line) && !line.startsWith("if (import.meta.main) ") ? [`${f}:${i + 1}: ${line.trim()}`] : [],
          ),
      );
    expect(readers, `the environment is read outside the config module:\n${readers.join("\n")}\n`).toEqual([]);
  });
});

// Versions pinned in several places must agree: Bun (CI, Dockerfile, types) and opencode (package, generated variable list).
import { expect, test } from "bun:test";
import path from "node:path";
import { OPENCODE_VERSION_SCANNED } from "../../src/opencode/provider-env.ts";

const ROOT = path.resolve(import.meta.dir, "../..");
const read = (file: string) => Bun.file(path.join(ROOT, file)).text();

test("one Bun version: .bun-version, the Dockerfile's build stage and @types/bun", async () => {
  const pinned = (await read(".bun-version")).trim();
  const pkg = JSON.parse(await read("package.json")) as { devDependencies: Record<string, string> };
  expect(/^ARG BUN_VERSION=(\S+)$/m.exec(await read("Dockerfile"))?.[1]).toBe(pinned);
  expect(pkg.devDependencies["@types/bun"]).toBe(pinned);
});

test("one opencode version: package.json and the provider variables generated from it", async () => {
  const pkg = JSON.parse(await read("package.json")) as { devDependencies: Record<string, string> };
  expect(pkg.devDependencies["opencode-ai"]).toBe(OPENCODE_VERSION_SCANNED);
});

// The Nix flake, checked offline: the file parses and the lock is complete and consistent.
import { expect, test } from "bun:test";
import path from "node:path";
import { sh } from "./support/docker.ts";

const ROOT = path.resolve(import.meta.dir, "..");

test("nix-instantiate --parse flake.nix", async () => {
  expect((await sh(["nix-instantiate", "--parse", path.join(ROOT, "flake.nix")], { check: false })).code).toBe(0);
});

test("nix flake metadata --offline resolves the locked nixpkgs", async () => {
  const result = await sh(["nix", "--extra-experimental-features", "nix-command flakes", "flake", "metadata", "--offline", "--json", ROOT], { check: false });
  expect(result.code).toBe(0);
  const meta = JSON.parse(result.stdout) as { locks: { nodes: Record<string, { locked?: { rev?: string } }> } };
  const lock = (await Bun.file(path.join(ROOT, "flake.lock")).json()) as { nodes: { nixpkgs: { locked: { rev: string } } } };
  expect(meta.locks.nodes.nixpkgs?.locked?.rev).toBe(lock.nodes.nixpkgs.locked.rev);
});

test("the dev shell provides what the tests and the hurl file use", async () => {
  const flake = await Bun.file(path.join(ROOT, "flake.nix")).text();
  for (const pkg of ["bun", "git", "hurl", "ripgrep", "opencode"]) expect(flake).toMatch(new RegExp(`^\\s+${pkg}$`, "m"));
  expect(flake).toContain("formatter = forAllSystems (pkgs: pkgs.nixfmt);");
  expect((await Bun.file(path.join(ROOT, ".envrc")).text()).trim()).toBe("use flake");
});

// The socket directories a killed server leaves behind are removed by the next one; a live server's never are.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { sweepStaleSocketDirs } from "../../src/network/stale-sockets.ts";
import { tempDir } from "../support/temp.ts";

const OLD = new Date(Date.now() - 3_600_000);

function dir(root: string, name: string, opts: { old: boolean; file?: string }): string {
  const d = path.join(root, name);
  mkdirSync(d);
  if (opts.file) writeFileSync(path.join(d, opts.file), "");
  if (opts.old) utimesSync(d, OLD, OLD);
  return d;
}

describe("sweepStaleSocketDirs", () => {
  test("removes old directories nobody listens in, keeps live, young, own and unrelated ones", async () => {
    const root = tempDir("ocs-sweep-");
    const live = dir(root, "ocs-net-live", { old: true });
    const server = Bun.serve({ unix: path.join(live, "provider.sock"), fetch: () => new Response("ok") });
    try {
      utimesSync(live, OLD, OLD);
      dir(root, "ocs-net-dead", { old: true, file: "provider.sock" });
      dir(root, "ocs-net-empty", { old: true });
      dir(root, "ocs-net-young", { old: false });
      const own = dir(root, "ocs-net-own", { old: true });
      dir(root, "other-dir", { old: true });
      writeFileSync(path.join(root, "ocs-net-file"), "");
      utimesSync(path.join(root, "ocs-net-file"), OLD, OLD);

      const removed = await sweepStaleSocketDirs(root, own);

      expect(removed.sort()).toEqual([path.join(root, "ocs-net-dead"), path.join(root, "ocs-net-empty")]);
      expect(readdirSync(root).sort()).toEqual(["ocs-net-file", "ocs-net-live", "ocs-net-own", "ocs-net-young", "other-dir"]);
      // The live server still answers on its socket.
      const res = await fetch("http://localhost/", { unix: path.join(live, "provider.sock") });
      expect(await res.text()).toBe("ok");
    } finally {
      await server.stop(true);
    }
  });

  test("a temp dir that cannot be read is nothing to sweep", async () => {
    const missing = path.join(tempDir("ocs-sweep-"), "nope");
    expect(await sweepStaleSocketDirs(missing, "")).toEqual([]);
    expect(existsSync(missing)).toBe(false);
  });
});

// What a follow-up starts from: the kept blob round-trips, an agent's links are never followed out of its home, the budget's arithmetic.
import { expect, test } from "bun:test";
import { linkSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { opencodeDirs } from "../../src/opencode/dirs.ts";
import { readSessionFiles, writeSessionFiles } from "../../src/opencode/session-files.ts";
import { emptyUsage } from "../../src/opencode/types.ts";
import { Budget, NOTHING_SPENT } from "../../src/runs/budget.ts";
import { decodeContinuation, encodeContinuation } from "../../src/runs/continuation.ts";
import { NO_LIMITS } from "../../src/runs/model.ts";
import { tempDir } from "../support/temp.ts";

test("a continuation round-trips: session files and a bundle, byte for byte", () => {
  const c = {
    session: { sessionId: "ses_1", directory: "/work/t/agent/work", files: [{ name: "opencode.db", data: new Uint8Array([1, 2, 3]) }, { name: "opencode.db-wal", data: new Uint8Array(70_000).fill(7) }] },
    commits: { branch: "opencode/abc", head: "f".repeat(40), prerequisite: "e".repeat(40), bundle: new Uint8Array([42, 43]) },
  };
  expect(decodeContinuation(encodeContinuation(c))).toEqual(c);
  const bare = { session: { sessionId: "ses_2", directory: "/w", files: [] }, commits: null };
  expect(decodeContinuation(encodeContinuation(bare))).toEqual(bare);
  expect(() => decodeContinuation(Bun.gzipSync(new Uint8Array([0, 0, 0, 2, 123, 125])))).toThrow();
});

function home(): { home: string; data: string } {
  const h = tempDir("ocs-session-");
  const data = opencodeDirs(h).data;
  mkdirSync(data, { recursive: true });
  return { home: h, data };
}

test("session files are read from the agent's home as plain files; written into a fresh one", () => {
  const a = home();
  writeFileSync(path.join(a.data, "opencode.db"), "db");
  writeFileSync(path.join(a.data, "opencode.db-wal"), "wal");
  writeFileSync(path.join(a.data, "auth.json"), "{}");
  const kept = readSessionFiles(a.home, "/w", "ses_x", 1024);
  expect(kept).toEqual({ sessionId: "ses_x", directory: "/w", files: [{ name: "opencode.db", data: new TextEncoder().encode("db") }, { name: "opencode.db-wal", data: new TextEncoder().encode("wal") }] });
  const b = home();
  writeSessionFiles(b.home, kept as NonNullable<typeof kept>);
  expect(readSessionFiles(b.home, "/w", "ses_x", 1024)).toEqual(kept);
  expect(readSessionFiles(home().home, "/w", "ses_y", 1024)).toBeNull();
  expect(() => readSessionFiles(a.home, "/w", "ses_x", 4)).toThrow("over");
});

test("an agent cannot make the server copy another file: a symlink, a hard link, a linked directory are refused", () => {
  const secret = path.join(tempDir("ocs-secret-"), "server.db");
  writeFileSync(secret, "the server's own file");
  const linked = home();
  symlinkSync(secret, path.join(linked.data, "opencode.db"));
  expect(() => readSessionFiles(linked.home, "/w", "s", 1024)).toThrow();
  const hard = home();
  linkSync(secret, path.join(hard.data, "opencode.db"));
  expect(() => readSessionFiles(hard.home, "/w", "s", 1024)).toThrow("not a plain file");
  const moved = home();
  rmSync(path.join(moved.home, ".local"), { recursive: true });
  const elsewhere = tempDir("ocs-elsewhere-");
  mkdirSync(path.join(elsewhere, "share/opencode"), { recursive: true });
  writeFileSync(path.join(elsewhere, "share/opencode/opencode.db"), "planted");
  symlinkSync(elsewhere, path.join(moved.home, ".local"));
  expect(() => readSessionFiles(moved.home, "/w", "s", 1024)).toThrow("replaced by a link");
});

test("the budget: cost and tokens stop the step that goes over; steps stop the one that reaches the cap and wants more", () => {
  const usage = (input: number, output: number, cost = 0) => ({ ...emptyUsage(), input_tokens: input, output_tokens: output, cost });
  const tokens = new Budget({ ...NO_LIMITS, max_tokens: 100 }, NO_LIMITS, NOTHING_SPENT);
  expect(tokens.step(usage(50, 50), 1, "tool-calls")).toBeNull();
  expect(tokens.step(usage(51, 50), 2, "tool-calls")).toEqual({ cap: "max_tokens", scope: "run", limit: 100, used: 101 });
  const steps = new Budget({ ...NO_LIMITS, max_steps: 2 }, NO_LIMITS, NOTHING_SPENT);
  expect(steps.step(usage(1, 1), 2, "stop")).toBeNull();
  expect(steps.step(usage(1, 1), 2, "tool-calls")).toEqual({ cap: "max_steps", scope: "run", limit: 2, used: 2 });
  const thread = new Budget(NO_LIMITS, { ...NO_LIMITS, max_cost_usd: 1 }, { cost_usd: 0.75, tokens: 0, steps: 3 });
  expect(thread.exhausted()).toBeNull();
  expect(thread.step(usage(1, 1, 0.3), 1, "stop")).toEqual({ cap: "max_cost_usd", scope: "thread", limit: 1, used: 1.05 });
  expect(new Budget(NO_LIMITS, { ...NO_LIMITS, max_steps: 3 }, { cost_usd: 0, tokens: 0, steps: 3 }).exhausted()).toEqual({ cap: "max_steps", scope: "thread", limit: 3, used: 3 });
  expect(new Budget(NO_LIMITS, NO_LIMITS, NOTHING_SPENT).report(usage(1, 1))).toBeNull();
});

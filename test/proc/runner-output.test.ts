// An agent that floods stdout: the output stops at the cap, later events still count, and the flood is read, not kept.
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { OpencodeRunner } from "../../src/opencode/runner.ts";
import type { AgentEvent } from "../../src/opencode/types.ts";
import { GcPressure } from "../../src/lib/gc-pressure.ts";
import { tempDir } from "../support/temp.ts";
import { scriptRunner } from "../support/script-runner.ts";

const FLOOD_LINES = 30_000;

test("30 MB of text events: output capped, flood skipped, the tool call and usage after it still counted", async () => {
  const dir = tempDir("ocs-flood-");
  const bin = path.join(dir, "opencode");
  // ~1 KB per line, each a new text part; then a tool call and a step_finish, as opencode ends a step.
  writeFileSync(
    bin,
    `#!/bin/sh
cat > /dev/null
line='{"type":"text","sessionID":"ses_flood","part":{"text":"'$(printf '%01000d' 0)'"}}'
yes "$line" | head -n ${FLOOD_LINES}
echo '{"type":"tool_use","sessionID":"ses_flood","part":{"tool":"bash","state":{"status":"completed","title":"ls","input":{"command":"ls"},"output":"a"}}}'
echo '{"type":"step_finish","sessionID":"ses_flood","part":{"tokens":{"input":7,"output":3,"reasoning":0,"cache":{"read":0,"write":0}},"cost":0.5}}'
`,
    { mode: 0o755 },
  );
  let collections = 0;
  const cap = 100_000;
  const runner = scriptRunner(bin, { maxOutputBytes: cap, gc: new GcPressure(8 * 1024 * 1024, () => collections++) });
  const events: AgentEvent[] = [];
  const home = path.join(dir, "home");
  mkdirSync(home);
  const out = await runner.run({ runId: "flood", prompt: "flood", model: null, agent: null, root: dir, cwd: dir, tmpDir: dir, home, signal: new AbortController().signal, onEvent: (e) => events.push(e) });
  expect(out.exitCode).toBe(0);
  expect(out.outputTruncated).toBe(true);
  // 100 parts of 1000 bytes fill the cap; joined one per line they are cut at it: 99 whole, 901 bytes of the 100th.
  const part = "0".repeat(1000);
  expect(out.output).toBe(`${Array<string>(99).fill(part).join("\n")}\n${"0".repeat(901)}`);
  expect(out.usage).toMatchObject({ input_tokens: 7, output_tokens: 3, cost: 0.5 });
  expect(out.tools).toEqual([{ tool: "bash", status: "completed", title: "ls", error: null, denied: false }]);
  // Text events stop at the cap: about cap / 1 KB of them, not 30,000.
  const texts = events.filter((e) => e.type === "text").length;
  expect(texts).toBeGreaterThan(90);
  expect(texts).toBeLessThan(110);
  // ~30 MB read: a collection per 8 MiB, and one when reading is over (more than 1 MiB since the last).
  expect(collections).toBe(4);
});

/** A stand-in opencode that reports a session and, when asked, writes a session database into its data dir. */
function sessionAgent(dir: string, writesDb: boolean): OpencodeRunner {
  const bin = path.join(dir, "opencode");
  writeFileSync(
    bin,
    `#!/bin/sh
cat > /dev/null
echo "$*" > "$HOME/argv"
db="$XDG_DATA_HOME/opencode/opencode.db"
${writesDb ? '[ -f "$db" ] || printf "db of the first run" > "$db"' : ""}
echo '{"type":"step_finish","sessionID":"ses_kept","part":{"reason":"stop","tokens":{"input":1,"output":1,"reasoning":0,"cache":{"read":0,"write":0}},"cost":0}}'
`,
    { mode: 0o755 },
  );
  return scriptRunner(bin);
}

test("the session an agent leaves is kept with the directory it worked in; a follow-up gets it back and --session", async () => {
  const dir = tempDir("ocs-session-run-");
  const input = (home: string, resume: Parameters<OpencodeRunner["run"]>[0]["resume"] = null) => {
    mkdirSync(home);
    return { runId: "s1", prompt: "p", model: null, agent: null, root: dir, cwd: dir, tmpDir: dir, home, resume, signal: new AbortController().signal, onEvent: () => {} };
  };
  const first = await sessionAgent(dir, true).run(input(path.join(dir, "home1")));
  expect(first.session).toEqual({ sessionId: "ses_kept", directory: dir, files: [{ name: "opencode.db", data: new TextEncoder().encode("db of the first run") }] });
  expect(await Bun.file(path.join(dir, "home1/argv")).text()).not.toContain("--session");
  // The follow-up: the kept database is in its fresh home before the agent starts, and opencode is told to continue it.
  const next = await sessionAgent(dir, true).run(input(path.join(dir, "home2"), first.session));
  expect(await Bun.file(path.join(dir, "home2/argv")).text()).toContain("--session=ses_kept");
  expect(next.session).toEqual(first.session as NonNullable<typeof first.session>);
});

test("an agent that writes no session database: nothing kept, and no problem to report (no warning per run)", async () => {
  const dir = tempDir("ocs-session-none-");
  const home = path.join(dir, "home");
  mkdirSync(home);
  const out = await sessionAgent(dir, false).run({ runId: "s2", prompt: "p", model: null, agent: null, root: dir, cwd: dir, tmpDir: dir, home, signal: new AbortController().signal, onEvent: () => {} });
  expect(out.sessionId).toBe("ses_kept");
  expect([out.session, out.sessionProblem]).toEqual([null, null]);
});

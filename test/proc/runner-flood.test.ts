// Floods through the real runner: exactly the cap is kept (cut on a character), tools and errors stay bounded too.
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { GcPressure } from "../../src/lib/gc-pressure.ts";
import type { AgentEvent, AgentOutcome } from "../../src/opencode/types.ts";
import { tempDir } from "../support/temp.ts";
import { scriptRunner } from "../support/script-runner.ts";

/** Runs a stand-in opencode whose stdout is `script`'s (a shell script body) through the runner, capped at `cap`. */
async function flood(script: string, cap: number): Promise<{ out: AgentOutcome; events: AgentEvent[]; collections: number }> {
  const dir = tempDir("ocs-flood-");
  const bin = path.join(dir, "opencode");
  writeFileSync(bin, `#!/bin/sh\ncat > /dev/null\n${script}\n`, { mode: 0o755 });
  let collections = 0;
  const runner = scriptRunner(bin, { maxOutputBytes: cap, gc: new GcPressure(8 * 1024 * 1024, () => collections++) });
  const home = path.join(dir, "home");
  mkdirSync(home);
  const events: AgentEvent[] = [];
  const out = await runner.run({ runId: "flood", prompt: "flood", model: null, agent: null, root: dir, cwd: dir, tmpDir: dir, home, signal: new AbortController().signal, onEvent: (e) => events.push(e) });
  return { out, events, collections };
}

// 10 bytes of UTF-8 in 4 characters (1, 2, 3 and 4 bytes long), repeated: any cap cuts near a multi-byte character.
const GROUP = "aé€😀";
const GROUP_BYTES = 10;

test("20 MB of multi-byte text parts: exactly the cap's worth is kept, cut on a character, and the text events stop there", async () => {
  const partGroups = 100; // 1000 bytes of text per part
  const part = GROUP.repeat(partGroups);
  const lines = 20_000; // ~21 MB with the JSON around each part
  const cap = 10_000 * 1 + 4 + 3; // 10 parts of 1000 bytes would fill 10,000: the 11th part is cut 7 bytes in, in the middle of "😀"
  const { out, events, collections } = await flood(
    `line='{"type":"text","sessionID":"ses_flood","part":{"text":"${part}"}}'
yes "$line" | head -n ${lines}
echo '{"type":"step_finish","sessionID":"ses_flood","part":{"tokens":{"input":7,"output":3,"reasoning":0,"cache":{"read":0,"write":0}},"cost":0.5}}'`,
    cap,
  );
  expect(out.exitCode).toBe(0);
  // The parts as kept (10 whole, the 11th cut to "aé€" = 6 bytes, its "😀" straddling the cap), then joined one per
  // line: 10 separators push the joined text over the cap, so it is cut again at the cap, on a character.
  const joinedBytes = cap;
  const whole = Math.floor((joinedBytes + 1) / (partGroups * GROUP_BYTES + 1)); // parts that fit with their separators
  const rest = joinedBytes - whole * (partGroups * GROUP_BYTES + 1);
  const tail = Buffer.from(part).subarray(0, rest).toString("utf8").replace(/\uFFFD$/, "");
  const expected = [...Array<string>(whole).fill(part), tail].join("\n");
  expect(out.output).toBe(expected);
  expect(Buffer.byteLength(out.output)).toBeLessThanOrEqual(cap);
  expect(out.output).not.toContain("\uFFFD");
  expect(out.outputTruncated).toBe(true);
  expect(out.usage).toEqual({ input_tokens: 7, output_tokens: 3, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0.5 });
  // Text events carry the parts as kept: 10 whole and the cut one; none after the cap.
  const texts = events.flatMap((e) => (e.type === "text" ? [e.text] : []));
  expect(texts).toEqual([...Array<string>(10).fill(part), "aé€"]);
  // ~21 MB read: two collections while reading, and one when it is over (more than 1 MiB since the last).
  expect(collections).toBe(3);
});

test("one text line longer than the cap (but readable): cut at the cap on a character; a longer one is dropped and flagged", async () => {
  // 105,000 groups: 1,050,000 bytes, within the line limit (the cap + 64 KiB). 100,000 groups are 1,000,000 bytes;
  // the next group's "a" fits, its "é" (2 bytes) straddles the cap.
  const cap = 1_000_002;
  const { out } = await flood(
    `printf '{"type":"text","sessionID":"s","part":{"id":"p1","text":"'
yes '${GROUP}' | head -n 105000 | tr -d '\\n'
printf '"}}\\n'`,
    cap,
  );
  expect(out.output).toBe(`${GROUP.repeat(100_000)}a`);
  expect(out.outputTruncated).toBe(true);

  const small = await flood(
    `printf '{"type":"text","sessionID":"s","part":{"id":"p0","text":"kept"}}\\n'
printf '{"type":"text","sessionID":"s","part":{"id":"p1","text":"'
yes 'x' | head -n 200000 | tr -d '\\n'
printf '"}}\\n'`,
    1000,
  );
  // 200 KB is beyond the line limit (the cap + 64 KiB): never buffered, and the output says it is incomplete.
  expect([small.out.output, small.out.outputTruncated]).toEqual(["kept", true]);
});

test("a flood of tool calls and errors with huge fields: every field kept or emitted is clipped, and old errors go", async () => {
  const big = "t".repeat(50_000);
  const { out, events } = await flood(
    `i=0
while [ $i -lt 300 ]; do
  echo '{"type":"tool_use","sessionID":"s","part":{"tool":"bash","state":{"status":"completed","title":"${big}","input":{"command":"${big}"},"output":"${big}"}}}'
  echo '{"type":"error","sessionID":"s","error":{"name":"E","data":{"message":"${big}"}}}'
  i=$((i+1))
done
echo '{"type":"error","sessionID":"s","error":{"name":"Last","data":{"message":"the last one"}}}'
exit 3`,
    1 << 20,
  );
  const clipped = `${"t".repeat(4000)}… [46000 more characters]`;
  expect(out.tools).toHaveLength(300);
  expect(out.tools.every((t) => t.title === clipped && t.tool === "bash" && t.error === null)).toBe(true);
  const tools = events.filter((e) => e.type === "tool");
  expect(tools).toHaveLength(300);
  expect(tools[0]).toEqual({ type: "tool", tool: "bash", status: "completed", title: clipped, error: null, denied: false, input: `${'{"command":"'}${"t".repeat(3988)}… [${50_014 - 4000} more characters]`, output: clipped, duration_ms: null });
  const errors = events.filter((e) => e.type === "error");
  expect(errors).toHaveLength(301);
  expect(errors[0]).toEqual({ type: "error", name: "E", message: clipped });
  // The failure is explained by the last error, as before.
  expect(out.error).toBe("Last: the last one");
});

test("kept text counts towards collections beyond its bytes read, and a flooded run collects before and after joining its output", async () => {
  const part = "a".repeat(1000);
  // ~2.1 MB read, all of it kept (the cap is 4 MiB): read alone it would cross no 8 MiB threshold.
  const { out, collections } = await flood(
    `line='{"type":"text","sessionID":"ses_kept","part":{"text":"${part}"}}'
yes "$line" | head -n 2000`,
    4 * 1024 * 1024,
  );
  expect(out.output).toBe(Array<string>(2000).fill(part).join("\n"));
  // Each handled line counts 4 × its length besides its bytes: ~10.6 MB, one collection while reading; then
  // the ~2.2 MB left since collect before the join, and the parts the 2 MB output was joined from after it.
  expect(collections).toBe(3);
});

// The agent starts before its run is stored, and gets its prompt only once it is: never when it could not be.
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gate } from "../support/gate.ts";
import { scriptRunner } from "../support/script-runner.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

/** An agent that says it is up, then keeps whatever its stdin brings until EOF, and answers with its size (or, `deaf`, exits at once). */
function setup(deaf = false) {
  const dir = tempDir("ocs-prompt-gate-");
  const bin = path.join(dir, "opencode");
  writeFileSync(
    bin,
    deaf
      ? "#!/bin/sh\nexit 0\n"
      : `#!/bin/sh
: > "${dir}/prompt"
: > "${dir}/booted"
cat >> "${dir}/prompt"
echo '{"type":"text","sessionID":"ses_gate","part":{"text":"read '$(wc -c < "${dir}/prompt")' bytes"}}'
`,
    { mode: 0o755 },
  );
  const runner = scriptRunner(bin);
  const home = path.join(dir, "home");
  mkdirSync(home);
  const run = (prompt: string, admitted: Promise<boolean>) =>
    runner.run({ runId: "gate", prompt, model: null, agent: null, root: dir, cwd: dir, tmpDir: dir, home, signal: new AbortController().signal, onEvent: () => {}, admitted });
  return { dir, run };
}

test("the agent is up before the run is stored, and has read nothing of its prompt until it is", async () => {
  const s = setup();
  const stored = gate();
  // More than a pipe holds: the rest goes in as the agent reads.
  const prompt = "p".repeat(200_000);
  const out = s.run(prompt, stored.promise.then(() => true));
  await waitFor(() => existsSync(path.join(s.dir, "booted")), { what: "the agent to start" });
  expect(readFileSync(path.join(s.dir, "prompt"), "utf8")).toBe("");
  stored.open();
  expect(await out).toMatchObject({ exitCode: 0, output: `read ${prompt.length} bytes` });
  expect(readFileSync(path.join(s.dir, "prompt"), "utf8")).toBe(prompt);
});

test("a run that could not be stored: its agent gets EOF and never the prompt", async () => {
  const s = setup();
  const out = await s.run("secret plan", Promise.resolve(false));
  expect(out).toMatchObject({ exitCode: 0, output: "read 0 bytes" });
  expect(readFileSync(path.join(s.dir, "prompt"), "utf8")).toBe("");
});

test("an agent that exits without reading a prompt larger than a pipe: the run ends, and the failed write is nobody's unhandled error", async () => {
  const s = setup(true);
  const unhandled: unknown[] = [];
  const onRejection = (err: unknown) => unhandled.push(err);
  process.on("unhandledRejection", onRejection);
  try {
    for (let i = 0; i < 3; i++) expect(await s.run("q".repeat(1 << 20), Promise.resolve(true))).toMatchObject({ exitCode: 0, output: "" });
    // Whatever the failed writes would throw has been thrown by the time the process is reaped and the readers drained.
    expect(unhandled).toEqual([]);
  } finally {
    process.off("unhandledRejection", onRejection);
  }
});

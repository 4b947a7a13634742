// The real opencode CLI under each sandbox, against the fake LLM: one run each, a write tool call into the workspace, exit 0.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createSandbox, probeLandlock, type Sandbox } from "../../src/sandbox/index.ts";
import { fakeScript, startFakeLlm } from "../support/fake-llm.ts";
import { fakeProviderConfig, opencodeBin } from "../support/opencode-env.ts";
import { chownTree, makeLayout, NOBODY, spawnAs, specFor } from "./support.ts";

const llm = startFakeLlm();
afterAll(() => llm.stop());

const landlock = probeLandlock();
if (!landlock.ok) throw new Error(landlock.error);
const BIN = opencodeBin();

interface Outcome {
  code: number;
  stderr: string;
  written: string | null;
  tools: string[];
  /** What the bash tool printed: git and ripgrep must be there. */
  bash: string;
  text: string;
}

async function runOpencode(sandbox: Sandbox, uid: number): Promise<Outcome> {
  const l = makeLayout(uid);
  const home = path.join(l.root, "home");
  const xdg = { XDG_CONFIG_HOME: path.join(home, ".config"), XDG_DATA_HOME: path.join(home, ".local/share"), XDG_CACHE_HOME: path.join(home, ".cache"), XDG_STATE_HOME: path.join(home, ".local/state") };
  for (const dir of Object.values(xdg)) mkdirSync(dir, { recursive: true });
  // What the server's setup does: no `npm install @opencode-ai/plugin` on every run.
  mkdirSync(path.join(xdg.XDG_CONFIG_HOME, "opencode/node_modules"), { recursive: true });
  writeFileSync(path.join(xdg.XDG_CONFIG_HOME, "opencode/package-lock.json"), JSON.stringify({ lockfileVersion: 3, packages: { "": { dependencies: { "@opencode-ai/plugin": "*" } } } }));
  writeFileSync(l.config, JSON.stringify(fakeProviderConfig(llm)));
  chownTree(l.root, uid);
  const target = path.join(l.work, "hello.txt");
  const prompt = `Write the file\n${fakeScript({ tool: "write", args: { filePath: target, content: "written in a sandbox\n" } }, { bash: "git --version >/dev/null && rg --version >/dev/null && echo tools-ok" }, { text: "done" })}`;
  const spec = specFor(l, {
    readOnly: [l.config, path.dirname(realpathSync(BIN))],
    env: {
      PATH: "/usr/bin:/bin",
      HOME: home,
      ...xdg,
      TMPDIR: path.join(l.root, "tmp"),
      OPENCODE_CONFIG: l.config,
      OPENCODE_DISABLE_MODELS_FETCH: "1",
      OPENCODE_DISABLE_AUTOUPDATE: "1",
    },
  });
  const cmd = sandbox.command([BIN, "run", "--format", "json", "--model=fake/fake-model", "--title=sandbox test"], spec);
  const proc = spawnAs(uid, cmd.argv, { env: cmd.env, cwd: cmd.cwd, stdin: new Blob([prompt]) });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const events = stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { type: string; part?: { tool?: string; text?: string; state?: { status?: string; output?: string } } });
  let written: string | null = null;
  try {
    written = readFileSync(target, "utf8");
  } catch {
    // stays null
  }
  return {
    code,
    stderr,
    written,
    tools: events.filter((e) => e.type === "tool_use").map((e) => `${e.part?.tool}:${e.part?.state?.status}`),
    bash: events.find((e) => e.part?.tool === "bash")?.part?.state?.output?.trim() ?? "",
    text: events.filter((e) => e.type === "text").map((e) => e.part?.text ?? "").join(""),
  };
}

const EXPECTED: Outcome = { code: 0, stderr: "", written: "written in a sandbox\n", tools: ["write:completed", "bash:completed"], bash: "tools-ok", text: "done" };

test("opencode under bwrap, as root", async () => {
  expect(await runOpencode(createSandbox({ mode: "bwrap", bwrapPath: "/usr/bin/bwrap" }), 0)).toEqual(EXPECTED);
}, 60_000);

test("opencode under bwrap, as nobody", async () => {
  expect(await runOpencode(createSandbox({ mode: "bwrap", bwrapPath: "/usr/bin/bwrap" }), NOBODY)).toEqual(EXPECTED);
}, 60_000);

test("opencode under Landlock, as nobody", async () => {
  expect(await runOpencode(createSandbox({ mode: "landlock", landlock: landlock.support }), NOBODY)).toEqual(EXPECTED);
}, 60_000);

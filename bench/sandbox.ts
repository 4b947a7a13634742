// 7. What the sandbox costs per run: /bin/true direct vs under bwrap vs under the Landlock helper; and a real opencode run with and without.
import { mkdirSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createSandbox, detectSandbox, probeLandlock, type Sandbox, type SandboxSpec } from "../src/sandbox/index.ts";
import { fakeScript, startFakeLlm } from "../test/support/fake-llm.ts";
import { fakeProviderConfig, opencodeBin } from "../test/support/opencode-env.ts";
import { median, ms, percentile, removeTempDirs, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

type Variant = { name: string; sandbox: Sandbox };

/** Runs each function once per round, in turn, after `warmup` unrecorded rounds. */
async function rotate(rounds: number, warmup: number, fns: readonly (() => Promise<unknown>)[]): Promise<number[][]> {
  const out = fns.map(() => [] as number[]);
  for (let i = 0; i < warmup + rounds; i++) {
    for (const [k, fn] of fns.entries()) {
      const t = performance.now();
      await fn();
      if (i >= warmup) out[k]?.push(performance.now() - t);
    }
  }
  return out;
}

/** Building the command is part of the cost: it stats the spec's paths on every run. */
async function spawnTrue(sandbox: Sandbox, spec: SandboxSpec): Promise<void> {
  const cmd = sandbox.command(["/bin/true"], spec);
  const p = Bun.spawn(cmd.argv, { env: cmd.env, cwd: cmd.cwd, stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: true });
  if ((await p.exited) !== 0) throw new Error(`${sandbox.mode}: /bin/true exited ${p.exitCode}`);
}

function runSpec(base: string, extra: Partial<SandboxSpec> = {}): SandboxSpec {
  const root = mkdtempIn(path.join(base, "work"));
  return { root, cwd: root, hidden: [path.join(base, "work"), path.join(base, "home")], env: { PATH: "/usr/bin:/bin", HOME: root, TMPDIR: root }, ...extra };
}

function mkdtempIn(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return tempDir("run-", dir);
}

/** One opencode run (fake LLM, one bash tool call) in a fresh root, as the server would set it up. */
async function opencodeRun(sandbox: Sandbox, base: string, config: string): Promise<void> {
  const root = mkdtempIn(path.join(base, "work"));
  const home = path.join(root, "home");
  const xdg = { XDG_CONFIG_HOME: path.join(home, ".config"), XDG_DATA_HOME: path.join(home, ".local/share"), XDG_CACHE_HOME: path.join(home, ".cache"), XDG_STATE_HOME: path.join(home, ".local/state") };
  for (const dir of [...Object.values(xdg), path.join(root, "work"), path.join(root, "tmp"), path.join(xdg.XDG_CONFIG_HOME, "opencode/node_modules")]) mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(xdg.XDG_CONFIG_HOME, "opencode/package-lock.json"), JSON.stringify({ lockfileVersion: 3, packages: { "": { dependencies: { "@opencode-ai/plugin": "*" } } } }));
  const bin = opencodeBin();
  const spec: SandboxSpec = {
    root,
    cwd: path.join(root, "work"),
    readOnly: [config, path.dirname(realpathSync(bin))],
    hidden: [path.join(base, "work"), path.join(base, "home")],
    env: { PATH: "/usr/bin:/bin", HOME: home, ...xdg, TMPDIR: path.join(root, "tmp"), OPENCODE_CONFIG: config, OPENCODE_DISABLE_MODELS_FETCH: "1", OPENCODE_DISABLE_AUTOUPDATE: "1" },
  };
  const cmd = sandbox.command([bin, "run", "--format", "json", "--model=fake/fake-model", "--title=bench"], spec);
  const p = Bun.spawn(cmd.argv, { env: cmd.env, cwd: cmd.cwd, stdin: new Blob([`List\n${fakeScript({ bash: "ls -la" }, { text: "Listed: {{tool_output}}" })}`]), stdout: "pipe", stderr: "pipe", detached: true, timeout: 120_000, killSignal: "SIGKILL" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0 || !out.includes("Listed:")) throw new Error(`${sandbox.mode}: opencode exited ${code}: ${err.slice(0, 300)}`);
}

export async function sandbox(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.quick ? 20 : 200;
  const detection = await detectSandbox("auto");
  if (detection.mode !== "bwrap") throw new Error(`bwrap is not usable here: ${detection.reason}`);
  const landlock = probeLandlock();
  if (!landlock.ok) throw new Error(landlock.error);
  const variants: Variant[] = [
    { name: "direct", sandbox: createSandbox({ mode: "off" }) },
    { name: "bwrap", sandbox: createSandbox(detection) },
    { name: "landlock-exec", sandbox: createSandbox({ mode: "landlock", landlock: landlock.support }) },
  ];
  const base = tempDir("ocs-bench-sandbox-");
  mkdirSync(path.join(base, "home"));
  const spec = runSpec(base);
  const spawnTimes = await rotate(n, 10, variants.map((v) => () => spawnTrue(v.sandbox, spec)));
  const details = ["| `/bin/true` spawned | p50 | p90 | added at p50 |", "|---|---|---|---|"];
  const direct = median(spawnTimes[0] as number[]);
  for (const [i, v] of variants.entries()) {
    const xs = spawnTimes[i] as number[];
    details.push(`| ${v.name} | ${ms(median(xs))} | ${ms(percentile(xs, 0.9))} | ${i === 0 ? "—" : ms(median(xs) - direct)} |`);
    ctx.log(`sandbox: /bin/true ${v.name} p50 ${ms(median(xs))} p90 ${ms(percentile(xs, 0.9))}`);
  }
  const bwrapAdded = median(spawnTimes[1] as number[]) - direct;

  const rounds = ctx.quick ? 1 : 3;
  const llm = startFakeLlm();
  try {
    const config = path.join(base, "opencode.json");
    writeFileSync(config, JSON.stringify(fakeProviderConfig(llm)));
    const runs = await rotate(rounds, ctx.quick ? 0 : 1, variants.map((v) => () => opencodeRun(v.sandbox, base, config)));
    details.push("", "| opencode run (fake LLM, one bash call) | p50 | min | max |", "|---|---|---|---|");
    for (const [i, v] of variants.entries()) {
      const xs = runs[i] as number[];
      details.push(`| ${v.name} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} |`);
      ctx.log(`sandbox: opencode ${v.name} p50 ${ms(median(xs))}`);
    }
  } finally {
    await llm.stop();
  }
  details.push(
    "",
    `${n} interleaved rounds of \`/bin/true\` after 10 warm-up rounds, each building the command (\`sandbox.command()\`) and waiting for exit; ${rounds} interleaved opencode round(s). bwrap probe at start-up: ${ms(detection.probeMs ?? 0)}. The Landlock helper is this Bun running \`src/sandbox/landlock-exec.ts\` (a compiled server runs it as its own subcommand).`,
  );
  return {
    name: "7. Sandbox cost per run",
    target: "≤ 10 ms added at p50 for bwrap",
    met: bwrapAdded <= 10,
    summary: `bwrap +${ms(bwrapAdded)} at p50 (${ms(median(spawnTimes[1] as number[]))} vs ${ms(direct)} for \`/bin/true\`)`,
    details,
  };
}

if (import.meta.main) {
  try {
    const result = await sandbox({ quick: process.argv.includes("--quick"), log: (line) => console.log(line) });
    console.log([`## ${result.name}`, "", `Target: ${result.target}. Result: ${result.summary} — ${result.met ? "met" : "missed"}.`, "", ...result.details].join("\n"));
  } finally {
    removeTempDirs();
  }
}

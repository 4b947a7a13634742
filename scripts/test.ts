// `bun run test`'s suite in two lanes at once: the files that drive the real opencode CLI one after another, everything else beside them.
//
// A real opencode run saturates both cores of the CI machine for seconds: two of them side by side
// (bun test --parallel) slowed each past the deadlines its tests set (MAX_EXECUTION_TIME 15–25 s), and
// all of them in a row with everything else took 22 minutes. One lane of real agents next to one lane of
// the rest keeps every real agent with the CPU it had alone, and the rest rides in its shadow.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dir, "..");
const TEST_DIR = path.join(ROOT, "test");

/** A file that starts the real opencode CLI imports the fake LLM it talks to (directly or through opencode-env.ts): an import statement, on one line or ending on one. */
const DRIVES_OPENCODE = /^(?:import\b|\})[^\n]* from "[^"]*\/(?:fake-llm|opencode-env)(?:\.ts)?";?$/m;

export function testFiles(): string[] {
  return readdirSync(TEST_DIR, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => path.join("test", f))
    .sort();
}

export function lanes(files: readonly string[], read = (f: string) => readFileSync(path.join(ROOT, f), "utf8")): { agent: string[]; other: string[] } {
  const agent: string[] = [];
  const other: string[] = [];
  for (const f of files) (DRIVES_OPENCODE.test(read(f)) ? agent : other).push(f);
  return { agent, other };
}

/** Copies a lane's output line by line, each line tagged with its lane (the two are interleaved). */
async function relay(stream: ReadableStream<Uint8Array>, tag: string, out: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) out(`${tag} ${line}`);
  }
  if (rest) out(`${tag} ${rest}`);
}

async function runLane(name: string, files: readonly string[], extra: readonly string[]): Promise<{ name: string; code: number; summary: string[] }> {
  const proc = Bun.spawn([process.execPath, "test", "--timeout", "120000", ...extra, ...files.map((f) => `./${f}`)], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const summary: string[] = [];
  const tag = `[${name}]`;
  const keep = (line: string) => {
    console.log(line);
    if (/^\[\w+\]\s+(\d+ (pass|fail|skip|todo)|Ran \d+ tests)/.test(line)) summary.push(line);
  };
  await Promise.all([relay(proc.stdout, tag, keep), relay(proc.stderr, tag, keep)]);
  return { name, code: await proc.exited, summary };
}

if (import.meta.main) {
  const { agent, other } = lanes(testFiles());
  const extra = process.argv.slice(2);
  console.log(`lanes: ${agent.length} files drive the real opencode CLI (one at a time), ${other.length} others beside them`);
  const started = performance.now();
  const results = await Promise.all([runLane("agent", agent, extra), runLane("other", other, extra)]);
  console.log(`\nboth lanes done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  for (const r of results) console.log(`${r.name}: ${r.code === 0 ? "passed" : `FAILED (exit ${r.code})`}\n  ${r.summary.join("\n  ")}`);
  process.exit(results.every((r) => r.code === 0) ? 0 : 1);
}

// Runs the server as a child process (source or compiled binary) and follows its JSON log on stdout.
import { chmodSync } from "node:fs";
import path from "node:path";
import { readChunks } from "../../src/lib/line-reader.ts";
import { tempDir } from "./temp.ts";
import { waitFor } from "./wait.ts";

export const ROOT = path.resolve(import.meta.dir, "../..");
export const SOURCE_CMD = [process.execPath, path.join(ROOT, "src/main.ts")];

export interface ServerProcess {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  /** stdout and stderr lines so far. */
  lines: string[];
  records(): Record<string, unknown>[];
  waitForLog(pred: (r: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

function follow(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  return (async () => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of readChunks(stream)) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts.filter(Boolean));
    }
    if (rest) lines.push(rest);
  })();
}

function parse(line: string): Record<string, unknown> | null {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** A server's own temp dir: writable by whichever user the command runs as, like /tmp (sticky). */
export function serverTmp(): string {
  const dir = tempDir("ocs-srv-tmp-");
  chmodSync(dir, 0o1777);
  return dir;
}

/**
 * Spawns `cmd` with exactly `env` (plus nothing from this process) and waits until it listens and opencode
 * answered. Without a TMPDIR in `env` it gets a temp dir of its own: what a SIGKILLed server leaves there
 * goes with the test's temp dirs.
 */
export async function spawnServer(cmd: string[], env: Record<string, string>, opts: { cwd?: string; waitForOpencode?: boolean; startTimeoutMs?: number } = {}): Promise<ServerProcess> {
  const withTmp = env.TMPDIR ? env : { ...env, TMPDIR: serverTmp() };
  const proc = Bun.spawn(cmd, { env: withTmp, cwd: opts.cwd ?? ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const lines: string[] = [];
  void follow(proc.stdout, lines);
  void follow(proc.stderr, lines);
  const records = () => lines.map(parse).filter((r): r is Record<string, unknown> => r !== null);
  const waitForLog = (pred: (r: Record<string, unknown>) => boolean, what: string, timeoutMs = 30_000) =>
    waitFor(
      () => {
        if (proc.exitCode !== null && !records().some(pred)) throw new Error(`server exited (${proc.exitCode}) before ${what}:\n${lines.join("\n")}`);
        return records().find(pred);
      },
      { what, timeoutMs },
    );
  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog((r) => r.msg === "listening", "the listening log line", opts.startTimeoutMs);
    if (opts.waitForOpencode ?? true) await waitForLog((r) => r.msg === "opencode ready", "opencode's version probe", opts.startTimeoutMs);
  } catch (err) {
    // Nobody gets a handle on a server that did not come up: it must not outlive the failed start.
    proc.kill("SIGKILL");
    await proc.exited;
    throw err;
  }
  return {
    proc,
    url: String(listening.url),
    lines,
    records,
    waitForLog,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return proc.exited;
    },
  };
}

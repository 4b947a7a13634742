// The scripted stand-in for the opencode CLI (fake-opencode.sh), and a server environment that uses it.
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./process-server.ts";
import { tempDir } from "./temp.ts";

/** See the header of the script for the faults it plays; `--version` and `models` answer at once. */
export const FAKE_OPENCODE = path.join(ROOT, "test/support/fake-opencode.sh");

/** Where every gate's pipe lives: shown read-only to the agents' sandboxes (SANDBOX_READ_PATHS). */
let gatesDir: string | undefined;
function gates(): string {
  if (!gatesDir) {
    gatesDir = tempDir("ocs-faults-gates-");
    chmodSync(gatesDir, 0o755);
  }
  return gatesDir;
}

/** Environment for a server (in-process or spawned) that runs the scripted agent in private directories. */
export function agentServerEnv(extra: Record<string, string> = {}): Record<string, string> {
  const home = tempDir("ocs-faults-home-");
  const work = path.join(home, "work");
  mkdirSync(work);
  return {
    HOME: home,
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOST: "127.0.0.1",
    PORT: "0",
    WORK_DIR: work,
    DATA_DIR: path.join(home, "data"),
    LOG_LEVEL: "warn",
    OPENCODE_BIN: FAKE_OPENCODE,
    OPENCODE_AUTH_TOKEN: "faults-provider-token",
    SANDBOX_READ_PATHS: gates(),
    ...extra,
  };
}

let gateCount = 0;

/** A named pipe the agent's `after FIFO` waits on; `fire()` resolves (with the time) once the agent has read it. */
export function faultGate(): { path: string; fire(): Promise<number> } {
  const file = path.join(gates(), `gate-${++gateCount}`);
  const made = Bun.spawnSync(["mkfifo", file]);
  if (made.exitCode !== 0) throw new Error(`mkfifo failed: ${made.stderr.toString()}`);
  return {
    path: file,
    // A child opens the pipe: opening blocks until the agent reads, and must not block this event loop.
    fire: async () => {
      const code = await Bun.spawn(["sh", "-c", 'echo go > "$0"', file], { stdin: "ignore", stdout: "ignore", stderr: "inherit" }).exited;
      if (code !== 0) throw new Error("could not fire the fault gate");
      return performance.now();
    },
  };
}

// An OpencodeRunner around a script that stands in for opencode: no sandbox, no network, no config.
import { OpencodeRunner, type OpencodeRunnerOptions } from "../../src/opencode/runner.ts";
import { createSandbox } from "../../src/sandbox/index.ts";

export function scriptRunner(bin: string, opts: Partial<OpencodeRunnerOptions> = {}): OpencodeRunner {
  return new OpencodeRunner({
    bin,
    baseEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    defaultModel: null,
    maxOutputBytes: 1 << 20,
    sandbox: createSandbox({ mode: "off" }),
    files: { auth: "{}", config: null },
    hidden: [],
    readOnly: [],
    networks: null,
    ...opts,
  });
}

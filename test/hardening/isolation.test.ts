// The agent runs as the server's user: it must still not read the server's secrets from /proc, sandboxed or not.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { tempDir } from "../support/temp.ts";
import { figure } from "./support/figures.ts";
import { serverUser } from "./support/server-user.ts";

const API_KEY = "isolation-canary-api-key-7f3a9c";
const GIT_TOKEN = "isolation-canary-git-token-51d2e8";

// A stand-in for opencode that reports what it could read, through /proc, of the process whose pid the
// prompt names (the server).
const AGENT = `#!/bin/sh
if [ "$1" = "--version" ]; then echo "0.0.0-fake"; exit 0; fi
if [ "$1" = "models" ]; then echo "fake/fake-model"; exit 0; fi
target=$(cat)
probe() { if [ ! -e "$1" ]; then echo absent; elif cat "$1" >/dev/null 2>&1; then echo readable; else echo denied; fi; }
env_state=$(probe /proc/$target/environ)
mem_state=$(probe /proc/$target/mem)
hits=$(tr '\\0' '\\n' < /proc/$target/environ 2>/dev/null | grep -c isolation-canary)
echo '{"type":"text","sessionID":"ses_fake","part":{"id":"t","text":"environ='"$env_state"' mem='"$mem_state"' hits='"$hits"'"}}'
`;

for (const sandbox of ["off", "bwrap"] as const) {
  describe(`SANDBOX=${sandbox}`, () => {
    let server: ServerProcess;

    beforeAll(async () => {
      // As root, the server runs as nobody: root could read any process's /proc, the production user cannot.
      const user = serverUser();
      const dir = tempDir("ocs-isolation-");
      chmodSync(dir, 0o755);
      const agent = path.join(dir, "agent.sh");
      writeFileSync(agent, AGENT, { mode: 0o755 });
      const home = path.join(dir, "home");
      mkdirSync(home, { mode: 0o700 });
      user.own(home);
      server = await spawnServer(user.wrap(SOURCE_CMD), {
        HOME: home,
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOST: "127.0.0.1",
        PORT: "0",
        WORK_DIR: home,
        DATA_DIR: path.join(home, "data"),
        OPENCODE_BIN: agent,
        OPENCODE_AUTH_TOKEN: "isolation-canary-provider-token",
        SANDBOX: sandbox,
        API_KEY,
        GIT_TOKEN,
      });
    });

    afterAll(async () => {
      if (server) expect(await server.stop()).toBe(0);
    });

    test("the agent, running as the server's user, cannot read the server's environment or memory", async () => {
      const res = await fetch(`${server.url}/run`, { method: "POST", headers: { "content-type": "text/plain", "x-api-key": API_KEY }, body: String(server.proc.pid) });
      const body = (await res.json()) as Record<string, unknown>;
      expect(res.status).toBe(200);
      // Without PR_SET_DUMPABLE=0 this reads "environ=readable … hits=2" (the API key and the git token); in
      // bwrap's PID namespace the server does not exist at all.
      expect(body.output).toBe(sandbox === "off" ? "environ=denied mem=denied hits=0" : "environ=absent mem=absent hits=0");
      figure("isolation", `agent reading the server's /proc/<pid>/{environ,mem}, SANDBOX=${sandbox}`, String(body.output));
    });
  });
}

// API_KEYS_FILE in a real server process: SIGHUP swaps the keys while a run is in flight (it finishes, owned by its key); a bad file refuses to start, naming the entry.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { agentServerEnv, faultGate } from "../support/fake-opencode.ts";
import { readJson } from "../support/http.ts";
import { keysToml, type TestKey } from "../support/keys.ts";
import { SOURCE_CMD, spawnServer, type ServerProcess } from "../support/process-server.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";

const ALICE: TestKey = { name: "alice", key: "ocs_e2e-alice-0123456789abcdef012345", scopes: ["runs:create", "runs:read"] };
const BOB: TestKey = { name: "bob", key: "ocs_e2e-bob-0123456789abcdef01234567", scopes: ["runs:create", "runs:read"] };

const started: ServerProcess[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop("SIGKILL");
});

const bearer = (k: TestKey) => ({ authorization: `Bearer ${k.key}` });

describe("API_KEYS_FILE in a server process", () => {
  test("SIGHUP adds bob and removes alice at once; alice's run in flight finishes as hers", async () => {
    const file = path.join(tempDir("ocs-keys-e2e-"), "keys.toml");
    writeFileSync(file, keysToml([ALICE]));
    const server = await spawnServer(SOURCE_CMD, agentServerEnv({ API_KEYS_FILE: file, LOG_LEVEL: "info" }));
    started.push(server);
    const gate = faultGate();
    const answer = fetch(`${server.url}/run`, { method: "POST", headers: { "content-type": "text/plain", ...bearer(ALICE) }, body: `after ${gate.path} ok` }).then(async (r) => ({ status: r.status, body: await readJson(r) }));
    await waitFor(async () => (await readJson(await fetch(`${server.url}/health`))).runs_in_flight === 1, { what: "alice's run in flight" });
    expect((await fetch(`${server.url}/runs`, { headers: bearer(BOB) })).status).toBe(401);

    writeFileSync(file, keysToml([BOB]));
    server.proc.kill("SIGHUP");
    expect(await server.waitForLog((r) => r.msg === "keys reloaded", "the reload")).toMatchObject({ level: "info", keys: 1, added: ["bob"], removed: ["alice"] });
    expect((await fetch(`${server.url}/runs`, { headers: bearer(BOB) })).status).toBe(200);
    expect((await fetch(`${server.url}/runs`, { headers: bearer(ALICE) })).status).toBe(401);

    await gate.fire();
    expect(await answer).toMatchObject({ status: 200, body: { success: true, owner: "alice", output: "armed\nok" } });
    expect(server.proc.exitCode).toBeNull();
    expect(server.lines.join("\n")).not.toContain(ALICE.key);
  });

  test("a plaintext key in the file: the server exits 1 naming API_KEYS_FILE and the entry, not the key", async () => {
    const file = path.join(tempDir("ocs-keys-e2e-"), "keys.toml");
    writeFileSync(file, `[[keys]]\nname = "ci"\nsha256 = "${ALICE.key}"\nscopes = ["admin"]\n`);
    const proc = Bun.spawn(SOURCE_CMD, { env: agentServerEnv({ API_KEYS_FILE: file }), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(1);
    const lines = (out + err).split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map(({ time: _, ...rest }) => rest)).toEqual([
      {
        level: "error",
        msg: `invalid configuration: API_KEYS_FILE: ${file}: entry 1 ("ci"): "sha256" must be the key's SHA-256 digest as 64 hex digits (never the key itself; opencode-server keys new prints one)`,
        variable: "API_KEYS_FILE",
      },
    ]);
    expect(out + err).not.toContain(ALICE.key);
  });
});

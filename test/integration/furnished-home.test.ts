// A run that takes a spare workspace finds its opencode files written ahead, for the placeholder the key proxy accepts for it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { spawnServer, type ServerProcess } from "../support/process-server.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";
import { recordingUpstream, type RecordingUpstream } from "../support/recording-upstream.ts";

const KEY = "sk-furnished-home-canary-71c4";
let upstream: RecordingUpstream;
let server: ServerProcess;
let work: string;

// Prints when its config (where the provider's key is, as the run's placeholder) was last written (ns since the epoch),
// then asks the key proxy with that placeholder.
const AGENT = `#!/bin/sh
if [ "$1" = "--version" ]; then echo "0.0.0-furnished"; exit 0; fi
if [ "$1" = "models" ]; then echo "fake/fake-model"; exit 0; fi
cat > /dev/null
key=$(grep -o 'ocs-run-[0-9a-f]*' "$OPENCODE_CONFIG" | head -n 1)
base=$(grep -o 'http://127.0.0.1:[0-9]*' "$OPENCODE_CONFIG" | head -n 1)
status=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $key" "$base/p/fake/chat/completions" -d '{}')
echo "{\\"type\\":\\"text\\",\\"sessionID\\":\\"s\\",\\"part\\":{\\"id\\":\\"final\\",\\"text\\":\\"$(date +%s%N -r "$OPENCODE_CONFIG") $status $(stat -c %a "$OPENCODE_CONFIG")\\"}}"
`;

beforeAll(async () => {
  upstream = recordingUpstream();
  const dir = tempDir("ocs-furnished-");
  const bin = path.join(dir, "opencode");
  writeFileSync(bin, AGENT);
  chmodSync(bin, 0o755);
  work = tempDir("ocs-furnished-work-");
  const config = { provider: { fake: { npm: "@ai-sdk/openai-compatible", options: { baseURL: `http://127.0.0.1:${upstream.server.port}/v1`, apiKey: KEY }, models: { "fake-model": {} } } } };
  server = await spawnServer([process.execPath, path.join(import.meta.dir, "../../src/main.ts")], {
    HOME: dir,
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOST: "127.0.0.1",
    PORT: "0",
    WORK_DIR: work,
    DATA_DIR: tempDir("ocs-furnished-data-"),
    OPENCODE_BIN: bin,
    OPENCODE_CONFIG_JSON: JSON.stringify(config),
    OPENCODE_MODEL: "fake/fake-model",
    WARM_AGENTS: "0",
    // Two spares kept ready, whatever the machine's core count.
    MAX_CONCURRENT_RUNS: "2",
    SANDBOX: "off",
    AGENT_NETWORK: "open",
  });
});

afterAll(async () => {
  await server?.stop();
  void upstream?.server.stop(true);
});

test("the spare's config was written before the request, with the placeholder of the run that took it: the key proxy lets it through", async () => {
  // Spares are made once the server is up; the config is the last file a spare gets before it is ready.
  const furnished = () => readdirSync(work).filter((e) => e.startsWith("opencode-spare-") && existsSync(path.join(work, e, "agent/home/.opencode-server/config.json")));
  await waitFor(() => furnished().length === 2, { what: "two spare workspaces, furnished" });
  const asked = BigInt(Date.now()) * 1_000_000n;
  const res = await fetch(`${server.url}/run`, { method: "POST", body: "hi" });
  const body = (await res.json()) as { success: boolean; output: string };
  expect([res.status, body.success]).toEqual([200, true]);
  const [written, status, mode] = body.output.trim().split(" ");
  // Written ahead (before the request), and good for this run: the proxy answered with the provider's answer.
  expect(BigInt(written ?? "0") < asked).toBe(true);
  expect([status, mode]).toEqual(["200", "400"]);
  expect(upstream.keys).toEqual([`Bearer ${KEY}`]);
});

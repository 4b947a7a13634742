// `bun run demo`: the server on 127.0.0.1:8080 with a built-in stand-in model, to try it without a provider account.
//
// The model is the fake OpenAI-compatible LLM the tests use, on a loopback port: every prompt gets one
// real bash tool call (run by the real opencode CLI in the run's sandbox) and a short reply. Nothing
// leaves the machine. State lives in a temporary directory that is removed on exit.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { startFakeLlm } from "../test/support/fake-llm.ts";
import { fakeProviderConfig } from "../test/support/opencode-env.ts";

const llm = startFakeLlm({
  unscripted: [
    { bash: "echo \"I am the demo model, working in $(pwd)\"; ls -la", say: "Let me look at my workspace." },
    { text: "Demo model here (no real LLM). You asked:\n\n{{prompt}}\n\nMy bash tool said:\n{{tool_output}}\nSet a real provider credential (see the README's Quick start) to get a real answer." },
  ],
});
const state = mkdtempSync(path.join(os.tmpdir(), "opencode-server-demo-"));
const port = process.argv.includes("--port") ? (process.argv[process.argv.indexOf("--port") + 1] ?? "8080") : "8080";
const config = loadConfig({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  LANG: process.env.LANG,
  PORT: port,
  DATA_DIR: path.join(state, "data"),
  WORK_DIR: state,
  OPENCODE_BIN: process.env.OPENCODE_BIN,
  OPENCODE_MODEL: "fake/fake-model",
  OPENCODE_CONFIG_JSON: JSON.stringify(fakeProviderConfig(llm, "demo-key")),
  OPENCODE_DISABLE_MODELS_FETCH: "1",
  LOG_LEVEL: "warn",
});
const server = await startServer(config);
await server.ready;
process.stdout.write(`opencode-server demo on ${server.url} (stand-in model; sandbox: see /health). Try:

  curl ${server.url}/health
  curl -X POST -H "Content-Type: text/plain" -d "Write a function to calculate fibonacci numbers" ${server.url}/run

Swagger UI: ${server.url}/swagger   — Ctrl-C to stop.
`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.shutdown(0);
  await llm.stop();
  rmSync(state, { recursive: true, force: true });
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());

// Environment for a server that drives the real opencode CLI against the fake LLM, in a private HOME.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { FakeLlm } from "./fake-llm.ts";
import { tempDir } from "./temp.ts";

const ROOT = path.resolve(import.meta.dir, "../..");

/** The real opencode binary from the pinned opencode-ai devDependency. */
export function opencodeBin(): string {
  const platform = path.join(ROOT, `node_modules/opencode-${process.platform}-${process.arch}/bin/opencode`);
  if (existsSync(platform)) return platform;
  return path.join(ROOT, "node_modules/.bin/opencode");
}

export function fakeProviderConfig(llm: FakeLlm, apiKey = "sk-fake-provider-key") {
  return {
    provider: {
      fake: {
        npm: "@ai-sdk/openai-compatible",
        name: "Fake",
        options: { baseURL: llm.baseURL, apiKey },
        models: {
          "fake-model": { name: "Fake", tool_call: true, limit: { context: 128000, output: 8192 } },
          // Priced like a real model (USD per million tokens): a default turn (100 in, 20 out) costs $0.002.
          "fake-priced": { name: "Fake priced", tool_call: true, limit: { context: 128000, output: 8192 }, cost: { input: 10, output: 50 } },
        },
      },
    },
    share: "disabled",
    autoupdate: false,
  };
}

/** Env for loadConfig(): isolated HOME/XDG dirs, work dir, loopback port 0, the fake provider as default model. */
export function opencodeServerEnv(llm: FakeLlm, extra: Record<string, string> = {}): Record<string, string> {
  const home = tempDir("ocs-home-");
  const work = path.join(home, "work");
  mkdirSync(work);
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    HOST: "127.0.0.1",
    PORT: "0",
    WORK_DIR: work,
    LOG_LEVEL: "debug",
    OPENCODE_BIN: opencodeBin(),
    OPENCODE_MODEL: "fake/fake-model",
    OPENCODE_CONFIG_JSON: JSON.stringify(fakeProviderConfig(llm)),
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    // Each warm agent is a booted opencode (~340 MiB): only the tests that ask for them get any.
    WARM_AGENTS: "0",
    ...extra,
  };
}

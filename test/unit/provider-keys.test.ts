// Which provider keys go behind the key proxy, and what the agent's files and environment hold instead.
import { expect, test } from "bun:test";
import { agentCredentials, BASE_MARK, KEY_MARK, planProviders } from "../../src/opencode/provider-keys.ts";

const auth = {
  opencode: { type: "api", key: "oc-zen-key" },
  anthropic: { type: "oauth", refresh: "r-1", access: "a-1", expires: 1 },
};
const config = {
  provider: {
    fake: { npm: "@ai-sdk/openai-compatible", options: { baseURL: "http://127.0.0.1:9999/v1/", apiKey: "sk-fake" } },
    mystery: { npm: "@acme/provider", options: { apiKey: "sk-mystery" } },
  },
  share: "disabled",
};
const env = { PATH: "/usr/bin", OPENAI_API_KEY: "sk-openai", AWS_REGION: "eu-west-1", OPENCODE_API_KEY: "oc-env-key" };

test("API keys from auth.json, the config and provider variables are proxied to each provider's real base URL; OAuth and unknown URLs are exposed, said why", () => {
  const plan = planProviders(auth, config, env);
  expect(plan.proxied).toEqual([
    { id: "fake", upstream: "http://127.0.0.1:9999/v1", key: "sk-fake" },
    { id: "openai", upstream: "https://api.openai.com/v1", key: "sk-openai" },
    // auth.json beats the provider variable, as in opencode.
    { id: "opencode", upstream: "https://opencode.ai/zen/v1", key: "oc-zen-key" },
    // The catalogue gives OPENCODE_API_KEY to a second provider too: both are proxied.
    { id: "opencode-go", upstream: "https://opencode.ai/zen/go/v1", key: "oc-env-key" },
  ]);
  expect(plan.exposed).toEqual([
    { id: "mystery", reason: "no known API base URL (set options.baseURL in OPENCODE_CONFIG_JSON to proxy it)" },
    { id: "anthropic", reason: "an OAuth (or well-known) login, which opencode refreshes itself" },
  ]);
  expect(plan.directHosts).toEqual(["api.anthropic.com"]);
});

test("the agent's copies: placeholders and the proxy's address for proxied providers, everything else untouched", () => {
  const plan = planProviders(auth, config, env);
  const agent = agentCredentials(plan, auth, config, env);
  expect(agent.auth).toEqual({ opencode: { type: "api", key: KEY_MARK }, anthropic: auth.anthropic });
  expect(agent.config).toEqual({
    share: "disabled",
    provider: {
      fake: { npm: "@ai-sdk/openai-compatible", options: { baseURL: `${BASE_MARK}/p/fake`, apiKey: KEY_MARK } },
      mystery: config.provider.mystery,
      openai: { options: { baseURL: `${BASE_MARK}/p/openai`, apiKey: KEY_MARK } },
      opencode: { options: { baseURL: `${BASE_MARK}/p/opencode`, apiKey: KEY_MARK } },
      "opencode-go": { options: { baseURL: `${BASE_MARK}/p/opencode-go`, apiKey: KEY_MARK } },
    },
  });
  expect(agent.env).toEqual({ PATH: "/usr/bin", OPENAI_API_KEY: KEY_MARK, AWS_REGION: "eu-west-1", OPENCODE_API_KEY: KEY_MARK });
  // No real key survives in what the agent gets, except the ones the plan says are exposed.
  const text = JSON.stringify(agent);
  expect(["oc-zen-key", "sk-fake", "sk-openai", "oc-env-key"].filter((k) => text.includes(k))).toEqual([]);
  expect(text).toContain("sk-mystery");
});

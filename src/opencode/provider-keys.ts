// Which provider keys the agent never sees: each API-key provider is pointed at the server's key proxy with a placeholder key.
import { CATALOGUE_PROVIDERS } from "./provider-env.ts";

/** What opencode would send to a provider, and where: the proxy adds `key` and forwards to `upstream`. */
export interface ProxiedProvider {
  id: string;
  /** The provider's real API base URL (no trailing slash). */
  upstream: string;
  key: string;
}

export interface ProviderPlan {
  proxied: ProxiedProvider[];
  /** Providers whose credentials stay in the agent's files or environment, with the reason (said at start-up). */
  exposed: { id: string; reason: string }[];
  /** Hosts the agent must reach by itself for the exposed providers (OAuth token refresh, unproxied APIs). */
  directHosts: string[];
}

/** The per-run strings: replaced in the agent's files and environment when each run starts. */
export const KEY_MARK = "@@OCS_PROVIDER_KEY@@";
export const BASE_MARK = "@@OCS_PROVIDER_BASE@@";

/**
 * The default API base URL of the AI SDK packages whose providers the catalogue lists without one
 * (each package's documented default). A provider on another package and without a `baseURL` cannot
 * be proxied: its key stays visible, and the start-up log says so.
 */
const SDK_DEFAULT_BASE: Readonly<Record<string, string>> = {
  "@ai-sdk/anthropic": "https://api.anthropic.com/v1",
  "@ai-sdk/openai": "https://api.openai.com/v1",
  "@ai-sdk/google": "https://generativelanguage.googleapis.com/v1beta",
  "@ai-sdk/groq": "https://api.groq.com/openai/v1",
  "@ai-sdk/mistral": "https://api.mistral.ai/v1",
  "@ai-sdk/xai": "https://api.x.ai/v1",
  "@ai-sdk/deepseek": "https://api.deepseek.com/v1",
  "@ai-sdk/cerebras": "https://api.cerebras.ai/v1",
  "@ai-sdk/togetherai": "https://api.together.xyz/v1",
  "@ai-sdk/fireworks": "https://api.fireworks.ai/inference/v1",
  "@ai-sdk/perplexity": "https://api.perplexity.ai",
  "@ai-sdk/deepinfra": "https://api.deepinfra.com/v1/openai",
  "@ai-sdk/cohere": "https://api.cohere.com/v2",
};

const CREDENTIAL_VAR = /KEY|TOKEN|SECRET|PAT$|PASSWORD/;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | null => (typeof v === "string" && v.trim() !== "" ? v : null);

function upstreamOf(id: string, configured: Json): string | null {
  const options = obj(configured.options);
  const npm = str(configured.npm) ?? CATALOGUE_PROVIDERS[id]?.npm ?? null;
  const base = str(options.baseURL) ?? CATALOGUE_PROVIDERS[id]?.api ?? (npm ? SDK_DEFAULT_BASE[npm] : undefined) ?? null;
  return base ? base.replace(/\/+$/, "") : null;
}

function hostOf(url: string | null): string | null {
  try {
    return url ? new URL(url).hostname : null;
  } catch {
    return null;
  }
}

/** Decides, once at start-up, which providers' keys go through the proxy. */
export function planProviders(auth: Json, config: Json | null, env: Readonly<Record<string, string>>): ProviderPlan {
  const configured = obj(config?.provider);
  const keys = new Map<string, string>();
  // opencode's own precedence: a config apiKey beats auth.json, which beats the provider's variable.
  for (const [id, entry] of Object.entries(CATALOGUE_PROVIDERS)) {
    const value = entry.env.filter((n) => CREDENTIAL_VAR.test(n)).map((n) => str(env[n])).find((v) => v !== null);
    if (value) keys.set(id, value);
  }
  const oauth: string[] = [];
  for (const [id, entry] of Object.entries(auth)) {
    const e = obj(entry);
    if (e.type === "api" && str(e.key)) keys.set(id, e.key as string);
    else oauth.push(id);
  }
  for (const [id, p] of Object.entries(configured)) {
    const key = str(obj(obj(p).options).apiKey);
    if (key) keys.set(id, key);
  }
  const plan: ProviderPlan = { proxied: [], exposed: [], directHosts: [] };
  for (const [id, key] of [...keys.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const upstream = upstreamOf(id, obj(configured[id]));
    if (upstream) plan.proxied.push({ id, upstream, key });
    else plan.exposed.push({ id, reason: "no known API base URL (set options.baseURL in OPENCODE_CONFIG_JSON to proxy it)" });
  }
  for (const id of oauth.sort()) {
    if (keys.has(id)) continue;
    plan.exposed.push({ id, reason: "an OAuth (or well-known) login, which opencode refreshes itself" });
    const host = hostOf(upstreamOf(id, obj(configured[id])));
    if (host) plan.directHosts.push(host);
  }
  for (const e of plan.exposed) {
    const host = hostOf(upstreamOf(e.id, obj(configured[e.id])));
    if (host && !plan.directHosts.includes(host)) plan.directHosts.push(host);
  }
  return plan;
}

/**
 * The agent's auth.json, config and provider variables: every proxied provider gets KEY_MARK as its
 * key and BASE_MARK/p/<id> as its base URL; everything else is as the server has it.
 */
export function agentCredentials(plan: ProviderPlan, auth: Json, config: Json | null, env: Readonly<Record<string, string>>) {
  const proxied = new Set(plan.proxied.map((p) => p.id));
  const agentAuth: Json = {};
  for (const [id, entry] of Object.entries(auth)) agentAuth[id] = proxied.has(id) ? { ...obj(entry), key: KEY_MARK } : entry;
  const providers: Json = { ...obj(config?.provider) };
  for (const id of proxied) {
    const p = obj(providers[id]);
    providers[id] = { ...p, options: { ...obj(p.options), baseURL: `${BASE_MARK}/p/${id}`, apiKey: KEY_MARK } };
  }
  const agentConfig: Json | null = plan.proxied.length > 0 || config ? { ...config, provider: providers } : null;
  const agentEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const owner = Object.entries(CATALOGUE_PROVIDERS).find(([id, p]) => proxied.has(id) && p.env.includes(name) && CREDENTIAL_VAR.test(name));
    agentEnv[name] = owner ? KEY_MARK : value;
  }
  return { auth: agentAuth, config: agentConfig, env: agentEnv };
}

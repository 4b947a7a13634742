// A run's key-proxy access handed out ahead (for a spare workspace's home): worthless until a run opens it, opened once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { AgentNetworks } from "../../src/network/agent-network.ts";
import { ProviderProxy } from "../../src/network/provider-proxy.ts";
import { recordingUpstream, type RecordingUpstream } from "../support/recording-upstream.ts";

const KEY = "sk-real-provider-key-canary-ahead-5e2a";
let upstream: RecordingUpstream;
let networks: AgentNetworks;

beforeAll(() => {
  upstream = recordingUpstream();
  const providers = new ProviderProxy([{ id: "prov", upstream: `http://127.0.0.1:${upstream.server.port}/v1`, key: KEY }]);
  networks = new AgentNetworks({ mode: "open", sandbox: "off", providers, egress: null });
});

afterAll(() => {
  networks.stop();
  void upstream.server.stop(true);
});

/** The status the key proxy answers a request carrying `placeholder` as its key with. */
async function statusWith(base: string, placeholder: string): Promise<number> {
  const res = await fetch(`${base}/p/prov/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${placeholder}` }, body: "{}" });
  await res.arrayBuffer();
  return res.status;
}

test("a placeholder handed out ahead is refused until its run opens it, works while it runs, and is gone after", async () => {
  upstream.keys.length = 0;
  const ahead = networks.ahead();
  expect(await statusWith(ahead.providerBase, ahead.placeholder)).toBe(401);
  const net = networks.open(() => {}, ahead.token);
  expect([net.placeholder, net.providerBase]).toEqual([ahead.placeholder, ahead.providerBase]);
  expect(await statusWith(net.providerBase, ahead.placeholder)).toBe(200);
  net.close();
  expect(await statusWith(net.providerBase, ahead.placeholder)).toBe(401);
  // Only the open run's request reached the provider, with the real key.
  expect(upstream.keys).toEqual([`Bearer ${KEY}`]);
});

test("a token opens once: a second run with it, or with one never handed out, gets a fresh placeholder of its own", () => {
  const ahead = networks.ahead();
  const first = networks.open(() => {}, ahead.token);
  const second = networks.open(() => {}, ahead.token);
  const forged = networks.open(() => {}, "0".repeat(32));
  const placeholders = [first.placeholder, second.placeholder, forged.placeholder];
  expect(placeholders[0]).toBe(ahead.placeholder);
  expect(new Set(placeholders).size).toBe(3);
  expect(forged.placeholder).not.toContain("0".repeat(32));
  for (const n of [first, second, forged]) n.close();
});

test("tokens handed out and never opened (spares given up) are forgotten past a bound: the oldest no longer opens", () => {
  const oldest = networks.ahead();
  for (let i = 0; i < 64; i++) networks.ahead();
  const net = networks.open(() => {}, oldest.token);
  expect(net.placeholder).not.toBe(oldest.placeholder);
  net.close();
});

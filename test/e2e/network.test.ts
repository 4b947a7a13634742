// The agent's network with the real opencode: the provider key never inside the sandbox, egress only through the proxy, only where allowed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { readJson } from "../support/http.ts";
import { fakeProviderConfig, opencodeServerEnv } from "../support/opencode-env.ts";
import { readEvents } from "../support/sse.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const PROVIDER_KEY = "sk-provider-canary-5e0f1b7a9c3d";

let llm: FakeLlm;
let allowed: ReturnType<typeof Bun.serve>;
let other: ReturnType<typeof Bun.serve>;

beforeAll(() => {
  llm = startFakeLlm();
  // On 127.0.0.2: the agent's NO_PROXY names 127.0.0.1 (where its key proxy is), so tools would bypass the egress proxy there.
  allowed = Bun.serve({ hostname: "127.0.0.2", port: 0, fetch: () => new Response("reached-the-allowed-server") });
  other = Bun.serve({ hostname: "127.0.0.2", port: 0, fetch: () => new Response("reached-the-other-server") });
});

afterAll(async () => {
  await llm?.stop();
  void allowed?.stop(true);
  void other?.stop(true);
});

/** A grep pattern for `text` that does not match its own command line (a bracket expression around one character). */
const unmatchable = (text: string) => `${text.slice(0, 3)}[${text[3]}]${text.slice(4)}`;

/** The agent's probes, one `name=value` line each. */
function probeScript(): string {
  const get = (name: string, url: string, extra = "") => `r=$(${extra}curl -s --max-time 5 ${url} 2>&1) && echo "${name}=$r" || echo "${name}=failed"`;
  const key = unmatchable(PROVIDER_KEY);
  return [
    `if env | grep -q '${key}'; then echo key_in_env=yes; else echo key_in_env=no; fi`,
    `if grep -rqs '${key}' "$HOME" "$TMPDIR" . /tmp /var/tmp /run /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null; then echo key_in_files=yes; else echo key_in_files=no; fi`,
    `grep -qs 'ocs-run-' "$HOME/.local/share/opencode/auth.json" "$OPENCODE_CONFIG" && echo placeholder_in_config=yes || echo placeholder_in_config=no`,
    get("direct", `http://127.0.0.2:${allowed.port}/`, "env -u HTTP_PROXY -u http_proxy -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy "),
    get("proxied_allowed", `http://127.0.0.2:${allowed.port}/`),
    get("proxied_other", `http://127.0.0.2:${other.port}/`),
    get("metadata", "http://169.254.169.254/latest/meta-data/"),
    "echo done=yes",
  ].join("; ");
}

function report(output: unknown): Record<string, string> {
  return Object.fromEntries(
    String(output)
      .split("\n")
      .filter((l) => /^[a-z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

for (const sandbox of ["bwrap", "landlock"] as const) {
  describe(`AGENT_NETWORK=proxy, SANDBOX=${sandbox}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      const config = { ...fakeProviderConfig(llm, PROVIDER_KEY), permission: { external_directory: "allow" } };
      s = await startTestServer(
        opencodeServerEnv(llm, { SANDBOX: sandbox, AGENT_NETWORK: "proxy", AGENT_ALLOWED_HOSTS: `127.0.0.2:${allowed.port}`, OPENCODE_CONFIG_JSON: JSON.stringify(config) }),
      );
    });
    afterAll(async () => {
      await s?.stop();
    });

    test("the key stays outside, the model still gets it; direct connections fail; the proxy lets through only what is allowed; every attempt is an event", async () => {
      const before = llm.requests.length;
      const res = await fetch(`${s.url}/runs`, { method: "POST", body: fakeScript({ bash: probeScript() }, { text: "{{tool_output}}" }) });
      const id = String((await readJson(res)).id);
      const events = await readEvents(await fetch(`${s.url}/runs/${id}/events`));
      const view = await readJson(await fetch(`${s.url}/runs/${id}`));
      const answer = view.result as Record<string, unknown>;
      expect(answer.success).toBe(true);
      const r = report(answer.output);
      expect(r).toEqual({
        key_in_env: "no",
        key_in_files: "no",
        placeholder_in_config: "yes",
        direct: "failed",
        proxied_allowed: "reached-the-allowed-server",
        proxied_other: `opencode-server egress proxy: 127.0.0.2:${other.port} refused: not in AGENT_ALLOWED_HOSTS (nor a model provider in use)`,
        metadata: "opencode-server egress proxy: 169.254.169.254:80 refused: not in AGENT_ALLOWED_HOSTS (nor a model provider in use)",
        done: "yes",
      });
      // The provider received the real key on every request of the run, and nothing else did.
      const chats = llm.requests.slice(before).filter((q) => q.path.endsWith("/chat/completions"));
      expect(chats.length).toBeGreaterThanOrEqual(2);
      for (const q of chats) expect(q.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
      const attempts = [
        { host: "127.0.0.2", port: allowed.port, allowed: true },
        { host: "127.0.0.2", port: other.port, allowed: false },
        { host: "169.254.169.254", port: 80, allowed: false },
      ];
      expect((answer.egress as Record<string, unknown>[]).map(({ host, port, allowed: ok, count }) => ({ host, port, allowed: ok, count }))).toEqual(attempts.map((a) => ({ ...a, count: 1 })));
      const egressEvents = events.map((e) => e.data as Record<string, unknown>).filter((d) => d.type === "egress");
      expect(egressEvents.map((d) => ({ host: d.host, port: d.port, allowed: d.allowed }))).toEqual(attempts);
      expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/opencode_server_egress_total\{outcome="refused"\} [2-9]/);
    });
  });
}

describe("AGENT_NETWORK=none, SANDBOX=bwrap", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(opencodeServerEnv(llm, { SANDBOX: "bwrap", AGENT_NETWORK: "none", AGENT_ALLOWED_HOSTS: `127.0.0.2:${allowed.port}` }));
  });
  afterAll(async () => {
    await s?.stop();
  });

  test("the model is reached through the key proxy; nothing else is, and no proxy is offered", async () => {
    expect(await readJson(await fetch(`${s.url}/health`))).toMatchObject({ sandbox: "bwrap", network: "none" });
    const script = `env | grep -ci proxy; curl -s --max-time 3 http://127.0.0.2:${allowed.port}/ || echo unreachable`;
    const res = await fetch(`${s.url}/run`, { method: "POST", body: fakeScript({ bash: script }, { text: "{{tool_output}}" }) });
    expect(await readJson(res)).toMatchObject({ success: true, output: "0\nunreachable", egress: [] });
  });
});

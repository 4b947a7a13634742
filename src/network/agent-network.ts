// Every run's way to the network (AGENT_NETWORK): the key proxy always, the egress proxy in `proxy`, no network of its own unless `open`.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { EgressSummary } from "../opencode/types.ts";
import type { SandboxBind, SandboxMode } from "../sandbox/types.ts";
import { bridgeFiles, bridgePrefix } from "./bridge.ts";
import type { EgressAttempt, EgressProxy } from "./egress-proxy.ts";
import { placeholderOf, type ProviderProxy } from "./provider-proxy.ts";
import { SOCKET_DIR_PREFIX } from "./stale-sockets.ts";

export type NetworkMode = "open" | "proxy" | "none";

/** Inside a network-less sandbox: the loopback ports the bridge opens (the sandbox's own loopback, so fixed). */
export const INSIDE_PROVIDER_PORT = 4873;
export const INSIDE_EGRESS_PORT = 3128;
/** Where the proxies' sockets appear inside a sandbox. */
const INSIDE_SOCKETS = "/run/opencode-server";


/** What one run's agent gets: its placeholder, its proxies' addresses, and how its sandbox is wired. */
export interface RunNetwork {
  placeholder: string;
  /** The provider proxy as the agent reaches it; opencode's baseURLs start with it. */
  providerBase: string;
  env: Record<string, string>;
  sandbox: { network: "host" | "none"; connectPorts: number[]; binds: SandboxBind[]; readOnly: string[] };
  /** The agent's argv, wrapped in the bridge when the sandbox has no network of its own; `relays`: more bridge arguments (a warm agent's `--unix`). */
  wrap(argv: string[], relays?: string[]): string[];
  egress(): EgressSummary[];
  close(): void;
}

/** A run's key-proxy access handed out before its run (a spare workspace's home is written with it); open() takes it. */
export interface AccessAhead {
  token: string;
  placeholder: string;
  providerBase: string;
}

/** Tokens handed out ahead and not yet opened: one per spare workspace, so a handful. */
const MAX_AHEAD = 64;

export interface AgentNetworksOptions {
  mode: NetworkMode;
  sandbox: SandboxMode;
  providers: ProviderProxy;
  egress: EgressProxy | null;
}

export class AgentNetworks {
  /** What is really enforced: `open` where the sandbox cannot take the network away. */
  readonly effective: NetworkMode;
  /** Why the effective mode is weaker than asked (logged loudly at start-up); null when it is not. */
  readonly weakened: string | null;
  /** Where the proxies' sockets are (a private temp directory, removed by stop()). */
  readonly socketDir: string;
  private readonly providerPort: number;
  private readonly egressPort: number | null;
  private readonly bridged: boolean;
  /** Tokens handed out by ahead() that no run has opened yet: each opens once. */
  private readonly aheadTokens = new Set<string>();

  constructor(private readonly opts: AgentNetworksOptions) {
    const { mode, sandbox } = opts;
    this.bridged = mode !== "open" && sandbox === "bwrap";
    this.effective = mode === "open" || sandbox === "bwrap" || sandbox === "landlock" ? mode : "open";
    this.weakened =
      mode !== "open" && sandbox === "off"
        ? `AGENT_NETWORK=${mode} is NOT enforced: without a sandbox the agent reaches any address the host can (provider keys still stay behind the key proxy)`
        : mode !== "open" && sandbox === "landlock"
          ? `AGENT_NETWORK=${mode} under Landlock restricts TCP to the server's proxy ports only (any address, as Landlock knows ports); UDP, e.g. DNS, is not restricted`
          : null;
    // Short, private, outside every sandbox's view: unix socket paths are limited to 108 bytes.
    this.socketDir = mkdtempSync(path.join(os.tmpdir(), SOCKET_DIR_PREFIX));
    chmodSync(this.socketDir, 0o700);
    opts.providers.listen({ unix: path.join(this.socketDir, "provider.sock") });
    this.providerPort = opts.providers.listen({ port: 0 }) as number;
    let egressPort: number | null = null;
    if (opts.egress && mode === "proxy") {
      opts.egress.listen({ unix: path.join(this.socketDir, "egress.sock") });
      egressPort = opts.egress.listen({ port: 0 });
    }
    this.egressPort = egressPort;
  }

  private get providerBase(): string {
    return `http://127.0.0.1:${this.bridged ? INSIDE_PROVIDER_PORT : this.providerPort}`;
  }

  /**
   * A future run's placeholder and proxy address, for a home written before that run exists (a spare workspace):
   * nothing is registered until a run opens it, so the placeholder is worthless until then.
   */
  ahead(): AccessAhead {
    const token = randomBytes(16).toString("hex");
    // Spares given up (a failed refill, a stop) never open theirs: the oldest are forgotten past a few dozen.
    const oldest = this.aheadTokens.size >= MAX_AHEAD ? this.aheadTokens.values().next().value : undefined;
    if (oldest !== undefined) this.aheadTokens.delete(oldest);
    this.aheadTokens.add(token);
    return { token, placeholder: placeholderOf(token), providerBase: this.providerBase };
  }

  /**
   * Opens a run's network; `onAttempt` sees every egress attempt as it happens. `ahead`: the token handed out for
   * this run's home — used once; one this never handed out, or one opened already, gets a fresh token instead
   * (the caller compares placeholders and rewrites the home's files).
   */
  open(onAttempt: (a: EgressAttempt) => void, ahead?: string): RunNetwork {
    const token = ahead !== undefined && this.aheadTokens.delete(ahead) ? ahead : randomBytes(16).toString("hex");
    const placeholder = placeholderOf(token);
    const unregisterKey = this.opts.providers.register(token);
    const counts = new Map<string, EgressSummary>();
    const unregisterEgress =
      this.opts.egress && this.effective === "proxy"
        ? this.opts.egress.register(token, {
            onAttempt: (a) => {
              const key = `${a.host}\n${a.port}\n${a.allowed}`;
              const seen = counts.get(key);
              if (seen) seen.count++;
              else counts.set(key, { host: a.host, port: a.port, allowed: a.allowed, count: 1, reason: a.reason });
              onAttempt(a);
            },
          })
        : () => {};
    const egressPort = this.bridged ? INSIDE_EGRESS_PORT : this.egressPort;
    const env: Record<string, string> = {};
    if (this.effective === "proxy" && egressPort !== null) {
      const proxy = `http://run:${token}@127.0.0.1:${egressPort}`;
      for (const name of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"]) env[name] = proxy;
      // The provider proxy is on the loopback too: reached directly, not through the egress proxy.
      for (const name of ["NO_PROXY", "no_proxy"]) env[name] = "127.0.0.1,localhost,::1";
    }
    const binds: SandboxBind[] = [];
    if (this.bridged) {
      binds.push({ source: path.join(this.socketDir, "provider.sock"), dest: `${INSIDE_SOCKETS}/provider.sock`, writable: true });
      if (this.effective === "proxy") binds.push({ source: path.join(this.socketDir, "egress.sock"), dest: `${INSIDE_SOCKETS}/egress.sock`, writable: true });
    }
    const landlocked = this.effective !== "open" && this.opts.sandbox === "landlock";
    return {
      placeholder,
      providerBase: this.providerBase,
      env,
      sandbox: {
        network: this.bridged || landlocked ? "none" : "host",
        connectPorts: landlocked ? [this.providerPort, ...(this.egressPort !== null && this.effective === "proxy" ? [this.egressPort] : [])] : [],
        binds,
        readOnly: this.bridged ? bridgeFiles() : [],
      },
      wrap: (argv, extra = []) => {
        if (!this.bridged) return argv;
        const relays = ["--tcp", `${INSIDE_PROVIDER_PORT}=${INSIDE_SOCKETS}/provider.sock`, ...extra];
        if (this.effective === "proxy") relays.push("--tcp", `${INSIDE_EGRESS_PORT}=${INSIDE_SOCKETS}/egress.sock`);
        return [...bridgePrefix(), ...relays, "--", ...argv];
      },
      egress: () => [...counts.values()],
      close: () => {
        unregisterKey();
        unregisterEgress();
      },
    };
  }

  stop(): void {
    this.opts.providers.stop();
    this.opts.egress?.stop();
    rmSync(this.socketDir, { recursive: true, force: true });
  }
}

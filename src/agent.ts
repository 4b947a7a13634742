// Builds the real agent: its sandbox, the provider keys behind the key proxy, each run's network, and the start-up probes.
import { createHash } from "node:crypto";
import { readdirSync, realpathSync } from "node:fs";
import path from "node:path";
import type { Config } from "./config.ts";
import { GcPressure } from "./lib/gc-pressure.ts";
import type { Logger } from "./lib/logger.ts";
import type { Redactor } from "./lib/redact.ts";
import { AgentNetworks, type NetworkMode } from "./network/agent-network.ts";
import { sweepStaleSocketDirs } from "./network/stale-sockets.ts";
import { AllowList, parsePattern, type HostPattern } from "./network/allow-list.ts";
import { EgressProxy } from "./network/egress-proxy.ts";
import { ProviderProxy } from "./network/provider-proxy.ts";
import type { ModelCatalog } from "./opencode/model-catalog.ts";
import { probeModels, probeVersion } from "./opencode/probe.ts";
import { OpencodeRunner } from "./opencode/runner.ts";
import { SetupError, setupOpencode } from "./opencode/setup.ts";
import type { AgentRunner } from "./opencode/types.ts";
import { removeWarmLeftovers, WarmAgent, type WarmAgentOptions } from "./opencode/warm-agent.ts";
import { WarmPool } from "./opencode/warm-pool.ts";
import { WarmRunner } from "./opencode/warm-runner.ts";
import { WARM_WORKSPACE_PREFIX } from "./runs/workspace.ts";
import { createSandbox, detectSandbox, SandboxUnavailableError, type SandboxDetection, type SandboxMode } from "./sandbox/index.ts";

/** 2 MiB: what pipe chunks leave between collections shows in RSS (bench/memory.ts); a 100 MB flood costs ~50 collections. */
const GC_EVERY_BYTES = 2 * 1024 * 1024;

export interface Agent {
  runner: AgentRunner;
  sandbox: SandboxMode;
  /** The network agents really get (AGENT_NETWORK, as far as the sandbox can enforce it). */
  network: NetworkMode;
  /** opencode --version and `opencode models`, run once the server listens; rejects with a SetupError. */
  probe(): Promise<{ version: string }>;
  /** Kills the warm agents (and removes their workspaces), then closes the proxies. */
  stop(): Promise<void>;
}

/** Picks the sandbox (SANDBOX); an explicit mode that cannot work here refuses to start, a fallback says why. */
async function chooseSandbox(config: Config, logger: Logger): Promise<SandboxDetection> {
  let detection: SandboxDetection;
  try {
    detection = await detectSandbox(config.sandbox, { searchPath: config.agentEnv.PATH ?? "" });
  } catch (err) {
    if (err instanceof SandboxUnavailableError) throw new SetupError("SANDBOX", `SANDBOX=${config.sandbox}: ${err.reason}`);
    throw err;
  }
  if (detection.mode === "off") logger.error(`runs are NOT sandboxed: ${detection.reason}`, { sandbox: "off", requested: config.sandbox });
  else if (detection.reason) logger.warn(`runs are sandboxed with ${detection.detail}, not bubblewrap: ${detection.reason}`, { sandbox: detection.mode });
  return detection;
}

export async function buildAgent(config: Config, deps: { logger: Logger; redactor: Redactor; models: ModelCatalog; serverPort: () => number }): Promise<Agent> {
  const { logger } = deps;
  const detection = await chooseSandbox(config, logger);
  const setup = setupOpencode(config, { sandboxed: detection.mode !== "off" });
  deps.redactor.add(...setup.extraSecrets);
  for (const w of setup.warnings) logger.warn(w);
  for (const e of setup.providers.exposed) logger.warn(`provider "${e.id}": its credential stays visible to agents: ${e.reason}`);

  // The model providers in use that agents reach by themselves (OAuth logins) join the egress allow-list.
  const direct = setup.providers.directHosts.map((h) => parsePattern(h)).filter((p): p is HostPattern => p !== null);
  const allow = new AllowList([...config.agentAllowedHosts, ...direct], deps.serverPort);
  const networks = new AgentNetworks({
    mode: config.agentNetwork,
    sandbox: detection.mode,
    providers: new ProviderProxy(setup.providers.proxied),
    egress: new EgressProxy(allow),
  });
  if (networks.weakened) (detection.mode === "off" ? logger.error : logger.warn).call(logger, networks.weakened);
  // What servers killed without a shutdown left in the temp dir goes, in the background: start-up never waits for it.
  void sweepStaleSocketDirs(path.dirname(networks.socketDir), networks.socketDir).then((gone) => {
    if (gone.length > 0) logger.info("removed socket directories of servers that are gone", { count: gone.length });
  });

  // Its real path: a sandbox shows the binary's own directory, not the symlinks on the way (node_modules/.bin).
  const bin = realpathSync(setup.bin);
  const spawnParts = {
    bin,
    baseEnv: setup.agentEnv,
    defaultModel: config.opencode.defaultModel,
    maxOutputBytes: config.maxOutputBytes,
    sandbox: createSandbox(detection),
    files: setup.runFiles,
    hidden: config.hiddenPaths,
    // The binary may live anywhere (a checkout's node_modules under a hidden HOME): its own directory is shown.
    readOnly: [path.dirname(bin), ...config.sandboxReadPaths],
    networks,
  };
  const cold = new OpencodeRunner({ ...spawnParts, gc: new GcPressure(GC_EVERY_BYTES) });
  const pool = warmPool(config, logger, detection.mode, { ...spawnParts, workDir: config.workDir, prefix: warmPrefix(config.replicaId) });
  const runner: AgentRunner = pool ? new WarmRunner(pool, cold) : cold;

  const probe = async () => {
    const [version, list] = await Promise.all([probeVersion(config, setup.bin), probeModels(config, setup.bin)]);
    const model = config.opencode.defaultModel;
    if (list) {
      deps.models.set(list);
      const problem = model ? deps.models.problem(model) : null;
      if (problem) throw new SetupError("OPENCODE_MODEL", `OPENCODE_MODEL: ${problem}`);
    } else {
      logger.warn("`opencode models` failed: the model list is unknown, so OPENCODE_MODEL and request models are not checked before a run");
    }
    logger.info("opencode ready", {
      bin: setup.bin,
      opencode_version: version,
      credential_sources: setup.credentialSources,
      auth_file: setup.authFile,
      default_model: model,
      models: list?.length ?? null,
      sandbox: detection.mode,
      network: networks.effective,
      providers_behind_key_proxy: setup.providers.proxied.map((p) => p.id),
      warm_agents: pool ? config.warmAgents.count : 0,
    });
    // Boots start once opencode proved it works, after the server listens: they never delay readiness.
    pool?.start();
    return { version };
  };
  const stop = async () => {
    await pool?.stop();
    networks.stop();
  };
  return { runner, sandbox: detection.mode, network: networks.effective, probe, stop };
}

/** This replica's warm workspaces: a short tag of REPLICA_ID, so replicas sharing a WORK_DIR never touch each other's. */
function warmPrefix(replicaId: string): string {
  return `${WARM_WORKSPACE_PREFIX}${createHash("sha256").update(replicaId).digest("hex").slice(0, 8)}-`;
}

/**
 * The warm pool (WARM_AGENTS), under bubblewrap only: its PID namespace is what kills a server and every
 * tool it started at once, and its own network namespace keeps the server port off the host's loopback
 * (AGENT_NETWORK=proxy or none). Elsewhere the pool stays off, loudly, and runs use `opencode run`.
 */
function warmPool(config: Config, logger: Logger, sandbox: SandboxMode, opts: WarmAgentOptions): WarmPool | null {
  // What a crashed process of this replica left: its sandboxes died with it (--die-with-parent), the directories did not.
  let entries: string[] = [];
  try {
    entries = readdirSync(config.workDir);
  } catch {
    // WORK_DIR missing: nothing left over.
  }
  const removed = removeWarmLeftovers(config.workDir, opts.prefix, entries);
  if (removed > 0) logger.warn("removed warm agent workspaces a previous process left", { workspaces: removed });
  const count = config.warmAgents.count;
  if (count === 0) return null;
  if (sandbox !== "bwrap") {
    logger.warn(`WARM_AGENTS=${count} is ignored: warm agents need SANDBOX=bwrap (under ${sandbox} opencode's server would listen on the host's loopback, guarded by a password only, and nothing would kill its tools with it); every run uses \`opencode run\``);
    return null;
  }
  if (config.agentNetwork === "open") {
    logger.warn(`AGENT_NETWORK=open: each warm agent's server listens on a port of the host's loopback, guarded by its own random password (with proxy or none it has a network namespace of its own)`);
  }
  return new WarmPool({ target: count, maxIdleMs: config.warmAgents.maxIdleMs, logger, boot: (signal) => WarmAgent.boot(opts, signal) });
}

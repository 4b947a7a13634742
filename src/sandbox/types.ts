// The sandbox's public shapes: modes, what one run asks of its sandbox, the command to spawn, and the errors.

export type SandboxMode = "bwrap" | "landlock" | "off";
export type SandboxRequest = SandboxMode | "auto";
/** "none": no network at all (bwrap: its own empty network namespace; Landlock: no TCP bind/connect). */
export type NetworkPolicy = "host" | "none";

export interface LandlockSupport {
  /** The kernel's Landlock ABI version (≥ 1). */
  abi: number;
  /** Whether signal and abstract-unix-socket scoping work (ABI ≥ 6, and not every ABI-6 kernel has them). */
  scoping: boolean;
}

/** A usable sandbox and what it needs to run. */
export type SandboxChoice = { mode: "bwrap"; bwrapPath: string } | { mode: "landlock"; landlock: LandlockSupport } | { mode: "off" };

export type SandboxDetection = SandboxChoice & {
  /** Why the sandbox is weaker than asked for (auto fell back, or off); null when it is what was asked. Log it loudly. */
  reason: string | null;
  /** What is in use, for the start-up log. */
  detail: string;
  /** How long the bwrap probe took (ms), when it ran. */
  probeMs: number | null;
};

/** A host path placed in the sandbox, e.g. a proxy's unix socket. */
export interface SandboxBind {
  source: string;
  /** Where it appears inside; defaults to `source`. Landlock cannot move paths: there it must equal `source`. */
  dest?: string;
  writable?: boolean;
}

export interface SandboxSpec {
  /** The run's root, the one writable place (work dir, TMPDIR, private HOME inside); the caller creates it. */
  root: string;
  /** Working directory of the agent; defaults to `root`. */
  cwd?: string;
  /** Files or directories to expose read-only (a config file, the agent binary's directory). */
  readOnly?: readonly string[];
  /**
   * Paths that must not be visible: the server's HOME, DATA_DIR, the mirror cache, WORK_DIR. The run's
   * own root and `readOnly` paths stay visible even when they lie inside one of these.
   */
  hidden?: readonly string[];
  binds?: readonly SandboxBind[];
  network?: NetworkPolicy;
  /**
   * With network "none": TCP ports the agent may still connect to (the server's proxies on the host's
   * loopback). Landlock only: under bwrap "none" is a network namespace of its own, reached through binds.
   */
  connectPorts?: readonly number[];
  /** The agent's complete environment. */
  env: Readonly<Record<string, string>>;
  /** Size cap of the private /tmp and /var/tmp (bwrap only; memory-backed). */
  tmpSizeBytes?: number;
}

/** What to hand to Bun.spawn (with `detached: true`). */
export interface SandboxCommand {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /**
   * True when SIGKILL to the spawned pid ends every process the agent started (a PID namespace).
   * False: leftovers must still be swept by the caller (e.g. by the run cookie).
   */
  killsTree: boolean;
}

export interface Sandbox {
  readonly mode: SandboxMode;
  command(argv: readonly string[], spec: SandboxSpec): SandboxCommand;
}

/** An explicitly requested sandbox cannot work here; the server must refuse to start. */
export class SandboxUnavailableError extends Error {
  override readonly name = "SandboxUnavailableError";
  constructor(
    readonly requested: "bwrap" | "landlock",
    readonly reason: string,
  ) {
    super(`sandbox "${requested}" is not available: ${reason}`);
  }
}

/** A spec that cannot be honoured as asked (a missing path, a contradiction); never silently weakened. */
export class SandboxSpecError extends Error {
  override readonly name = "SandboxSpecError";
}

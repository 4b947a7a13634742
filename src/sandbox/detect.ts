// Chooses the sandbox at start-up by trying it for real: bwrap if it can build one here, else Landlock, else none — always saying why.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { bwrapArgv, bwrapLayout } from "./bwrap.ts";
import { handledFs, NET, SCOPE } from "./landlock-policy.ts";
import { closeFd, createRuleset, landlockAbi } from "./landlock-syscalls.ts";
import { checkSpec, DEFAULT_SYSTEM_PATHS } from "./paths.ts";
import { SandboxUnavailableError, type LandlockSupport, type SandboxDetection, type SandboxRequest, type SandboxSpec } from "./types.ts";

export type BwrapProbe = { ok: true; ms: number } | { ok: false; error: string };
export type LandlockProbe = { ok: true; support: LandlockSupport } | { ok: false; error: string };

export interface DetectDeps {
  /** The bwrap executable; default: `bwrap` on `searchPath`. null: treat as not installed. */
  bwrapPath?: string | null;
  /** The PATH bwrap is looked up on and the probe runs with (the config's, never read here from the environment). */
  searchPath?: string;
  probeTimeoutMs?: number;
  systemPaths?: readonly string[];
  /** What the kernel offers; default: ask it. */
  probeLandlock?: () => LandlockProbe;
}

const DEFAULT_PROBE_TIMEOUT_MS = 3000;

/**
 * Runs `true` in a sandbox built exactly as runs get theirs (same namespaces, /proc, tmpfs options):
 * in Docker's default seccomp profile, or with --proc refused, this fails where a lighter probe passes.
 */
export async function probeBwrap(bwrap: string, opts: { timeoutMs?: number; systemPaths?: readonly string[]; searchPath?: string } = {}): Promise<BwrapProbe> {
  const root = mkdtempSync(path.join(os.tmpdir(), "ocs-sandbox-probe-"));
  try {
    const spec: SandboxSpec = { root, env: { PATH: opts.searchPath ?? "/usr/bin:/bin" }, tmpSizeBytes: 1 << 20 };
    const argv = bwrapArgv(["true"], spec, checkSpec(spec), { bwrap, layout: bwrapLayout(opts.systemPaths ?? DEFAULT_SYSTEM_PATHS) });
    const started = performance.now();
    const proc = Bun.spawn(argv, { env: spec.env, stdin: "ignore", stdout: "ignore", stderr: "pipe", timeout: opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS, killSignal: "SIGKILL" });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    const ms = performance.now() - started;
    if (code === 0) return { ok: true, ms };
    if (proc.signalCode !== null) return { ok: false, error: `${bwrap} did not finish within ${opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS} ms` };
    return { ok: false, error: `${bwrap} exited ${code}: ${stderr.trim().split("\n").slice(-2).join(" ") || "no message"}` };
  } catch (err) {
    return { ok: false, error: `${bwrap}: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The ABI, and whether a ruleset with everything we handle (scoping included) is accepted — some ABI-6 kernels lack scoping. */
export function probeLandlock(): LandlockProbe {
  const { abi, error } = landlockAbi();
  if (error !== null) return { ok: false, error: `Landlock is unavailable (${error})` };
  const net = abi >= 4 ? NET.BIND_TCP | NET.CONNECT_TCP : 0;
  const attempt = (scoped: number) => {
    try {
      closeFd(createRuleset(abi, handledFs(abi), net, scoped));
      return true;
    } catch {
      return false;
    }
  };
  if (abi >= 6 && attempt(SCOPE.ABSTRACT_UNIX_SOCKET | SCOPE.SIGNAL)) return { ok: true, support: { abi, scoping: true } };
  if (attempt(0)) return { ok: true, support: { abi, scoping: false } };
  return { ok: false, error: `Landlock ABI ${abi} refused a ruleset` };
}

function describeLandlock(s: LandlockSupport): string {
  return `Landlock ABI ${s.abi}${s.scoping ? " with signal and abstract-socket scoping" : " without signal or socket scoping"}`;
}

/** What a Landlock-only sandbox lacks next to bwrap, for the fallback's reason. */
const LANDLOCK_GAPS = "no PID namespace (leftover processes must be swept by the caller), /tmp is not private (TMPDIR lives in the run root), hidden paths are denied (EACCES) rather than absent";

export async function detectSandbox(requested: SandboxRequest, deps: DetectDeps = {}): Promise<SandboxDetection> {
  if (requested === "off") {
    return { mode: "off", reason: "sandbox disabled by configuration: the agent runs as the server's user and can read its files", detail: "no sandbox", probeMs: null };
  }
  const landlock = () => (deps.probeLandlock ?? probeLandlock)();

  if (requested === "landlock") {
    const probe = landlock();
    if (!probe.ok) throw new SandboxUnavailableError("landlock", probe.error);
    return { mode: "landlock", landlock: probe.support, reason: null, detail: describeLandlock(probe.support), probeMs: null };
  }

  const searchPath = deps.searchPath ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  const bwrapPath = deps.bwrapPath === undefined ? Bun.which("bwrap", { PATH: searchPath }) : deps.bwrapPath;
  const bwrap: BwrapProbe =
    bwrapPath === null
      ? { ok: false, error: "bwrap (bubblewrap) is not installed or not on PATH" }
      : await probeBwrap(bwrapPath, { timeoutMs: deps.probeTimeoutMs, systemPaths: deps.systemPaths, searchPath });
  if (bwrap.ok && bwrapPath !== null) {
    return { mode: "bwrap", bwrapPath, reason: null, detail: `bubblewrap ${bwrapPath} (probe ${bwrap.ms.toFixed(1)} ms)`, probeMs: bwrap.ms };
  }
  const error = bwrap.ok ? "bwrap path unknown" : bwrap.error;
  if (requested === "bwrap") throw new SandboxUnavailableError("bwrap", error);

  const probe = landlock();
  if (probe.ok) {
    return {
      mode: "landlock",
      landlock: probe.support,
      reason: `bubblewrap cannot sandbox here (${error}); falling back to ${describeLandlock(probe.support)}: ${LANDLOCK_GAPS}`,
      detail: describeLandlock(probe.support),
      probeMs: null,
    };
  }
  return {
    mode: "off",
    reason: `no sandbox available — bubblewrap: ${error}; ${probe.error}. The agent runs as the server's user and can read its files`,
    detail: "no sandbox",
    probeMs: null,
  };
}

// The sandbox module's public surface: choose a sandbox at start-up, then build each run's contained command.
export { detectSandbox, probeBwrap, probeLandlock, type BwrapProbe, type DetectDeps, type LandlockProbe } from "./detect.ts";
export { isCompiled, LANDLOCK_EXEC_SUBCOMMAND, landlockExecPrefix, runLandlockExec } from "./landlock-exec.ts";
export { DEFAULT_SYSTEM_PATHS } from "./paths.ts";
export { createSandbox, type SandboxOptions } from "./sandbox.ts";
export {
  SandboxSpecError,
  SandboxUnavailableError,
  type LandlockSupport,
  type NetworkPolicy,
  type Sandbox,
  type SandboxBind,
  type SandboxChoice,
  type SandboxCommand,
  type SandboxDetection,
  type SandboxMode,
  type SandboxRequest,
  type SandboxSpec,
} from "./types.ts";

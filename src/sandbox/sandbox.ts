// Turns an agent's argv into the argv that runs it contained, for the sandbox chosen at start-up.
import { bwrapArgv, bwrapLayout } from "./bwrap.ts";
import { landlockExecPrefix } from "./landlock-exec.ts";
import { landlockBase, landlockPolicy } from "./landlock-policy.ts";
import { checkSpec, DEFAULT_SYSTEM_PATHS } from "./paths.ts";
import type { Sandbox, SandboxChoice, SandboxCommand, SandboxSpec } from "./types.ts";

export interface SandboxOptions {
  /** The read-only system; defaults to DEFAULT_SYSTEM_PATHS. */
  systemPaths?: readonly string[];
  /** How to start the Landlock helper; defaults to landlockExecPrefix() (this Bun, or this compiled binary). */
  landlockExec?: readonly string[];
}

/**
 * One Sandbox serves every run of the server: the host's system layout is read once here, and each
 * command() builds a fresh, independent containment for its own spec.
 */
export function createSandbox(choice: SandboxChoice, options: SandboxOptions = {}): Sandbox {
  const systemPaths = options.systemPaths ?? DEFAULT_SYSTEM_PATHS;
  switch (choice.mode) {
    case "bwrap": {
      const layout = bwrapLayout(systemPaths);
      return {
        mode: "bwrap",
        command(argv, spec): SandboxCommand {
          const checked = checkSpec(spec);
          return { argv: bwrapArgv(argv, spec, checked, { bwrap: choice.bwrapPath, layout }), env: { ...spec.env }, cwd: checked.cwd, killsTree: true };
        },
      };
    }
    case "landlock": {
      const base = landlockBase(systemPaths);
      const prefix = [...(options.landlockExec ?? landlockExecPrefix())];
      return {
        mode: "landlock",
        command(argv, spec): SandboxCommand {
          const checked = checkSpec(spec);
          const policy = landlockPolicy(spec, checked, choice.landlock, base);
          // cwd "/": the helper must not start in a directory the agent controls (see landlock-exec.ts).
          return { argv: [...prefix, JSON.stringify(policy), "--", ...argv], env: { ...spec.env }, cwd: "/", killsTree: false };
        },
      };
    }
    case "off":
      return {
        mode: "off",
        command(argv: readonly string[], spec: SandboxSpec): SandboxCommand {
          return { argv: [...argv], env: { ...spec.env }, cwd: spec.cwd ?? spec.root, killsTree: false };
        },
      };
  }
}

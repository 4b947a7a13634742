// Gives each run a fresh opencode home: config, data (session database, auth.json), cache and state of its own.
import { mkdirSync, writeFileSync } from "node:fs";
import { opencodeDirs } from "./dirs.ts";
import { BASE_MARK, KEY_MARK } from "./provider-keys.ts";

/** What every run's opencode starts from: the server's files, as content (no run reads another's copy). */
export interface RunFiles {
  /** auth.json: the provider credentials opencode reads (proxied keys as KEY_MARK). */
  auth: string;
  /** The server's opencode config (OPENCODE_CONFIG_JSON plus the server's defaults; proxied base URLs as BASE_MARK), or null. */
  config: string | null;
}

/** This run's placeholder key and key-proxy address, for the marks in RunFiles and in the environment. */
export interface RunProviderAccess {
  placeholder: string;
  providerBase: string;
}

export function fillMarks(text: string, access: RunProviderAccess): string {
  return text.replaceAll(KEY_MARK, access.placeholder).replaceAll(BASE_MARK, access.providerBase);
}

// opencode runs `npm install @opencode-ai/plugin` in its config dir on every run unless it finds
// this lock file and a node_modules directory (measured: ../shared/opencode-notes.md).
const PLUGIN_LOCK = JSON.stringify({
  name: "opencode-server-plugin-guard",
  lockfileVersion: 3,
  requires: true,
  packages: { "": { dependencies: { "@opencode-ai/plugin": "*" } } },
});

export function guardPluginInstall(configDir: string, write: (file: string, content: string) => void): void {
  mkdirSync(`${configDir}/node_modules`, { recursive: true, mode: 0o700 });
  write(`${configDir}/package-lock.json`, PLUGIN_LOCK);
}

/** The file OPENCODE_CONFIG names inside a run's home: outside opencode's config dir, which opencode writes to. */
export function runConfigFile(home: string): string {
  return `${home}/.opencode-server/config.json`;
}

/**
 * Creates the run's opencode directories and files under `home` (which exists) and returns the
 * variables that point opencode at them. Nothing carries over from an earlier run: a global
 * AGENTS.md, a changed config or an earlier session database exist only in the home they were written to.
 */
export function prepareRunHome(home: string, files: RunFiles, access: RunProviderAccess): Record<string, string> {
  const dirs = opencodeDirs(home);
  const write = (file: string, content: string) => writeFileSync(file, content, { mode: 0o600 });
  guardPluginInstall(dirs.config, write);
  mkdirSync(dirs.data, { recursive: true, mode: 0o700 });
  write(`${dirs.data}/auth.json`, fillMarks(files.auth, access));
  const env: Record<string, string> = {
    HOME: home,
    XDG_CONFIG_HOME: dirs.xdgConfig,
    XDG_DATA_HOME: dirs.xdgData,
    XDG_CACHE_HOME: dirs.xdgCache,
    XDG_STATE_HOME: dirs.xdgState,
  };
  if (files.config !== null) {
    const file = runConfigFile(home);
    mkdirSync(`${home}/.opencode-server`, { mode: 0o700 });
    writeFileSync(file, fillMarks(files.config, access), { mode: 0o400 });
    env.OPENCODE_CONFIG = file;
  }
  return env;
}

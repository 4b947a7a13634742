// Gives each run a fresh opencode home: config, data (session database, auth.json), cache and state of its own.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
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

/** The directories of a fresh home, parents first (one level at a time: a recursive mkdir costs ~70 µs a level here, a plain one ~30 µs). */
function homeDirs(home: string): string[] {
  const dirs = opencodeDirs(home);
  return [dirs.xdgConfig, dirs.config, `${dirs.config}/node_modules`, `${home}/.local`, dirs.xdgData, dirs.data, `${home}/.opencode-server`];
}

/**
 * Makes a home off a run's path (a spare workspace made ahead). With `access` (the future run's placeholder,
 * handed out ahead) the run's own files are written too, and prepareRunHome writes nothing: three file
 * writes fewer before the spawn, 0.12–0.27 ms of a no-op run (bench 1, interleaved). Without, they are created
 * empty: creating a file costs ~180 µs on this machine's ext4, writing into one that exists ~10 µs.
 */
export async function furnishHome(home: string, files: RunFiles, access: RunProviderAccess | null = null): Promise<void> {
  for (const d of homeDirs(home)) await mkdir(d, { mode: 0o700 });
  const dirs = opencodeDirs(home);
  await writeFile(`${dirs.config}/package-lock.json`, PLUGIN_LOCK, { mode: 0o600 });
  await writeFile(`${dirs.data}/auth.json`, access ? fillMarks(files.auth, access) : "", { mode: 0o600 });
  // Read-only from its creation when it is final; made writable (empty) when the run writes it.
  if (files.config !== null) await writeFile(runConfigFile(home), access ? fillMarks(files.config, access) : "", { mode: access ? 0o400 : 0o600 });
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT";
}

/** The variables that point opencode at a home made by prepareRunHome or furnishHome. */
function homeEnv(home: string, files: RunFiles): Record<string, string> {
  const dirs = opencodeDirs(home);
  const env: Record<string, string> = {
    HOME: home,
    XDG_CONFIG_HOME: dirs.xdgConfig,
    XDG_DATA_HOME: dirs.xdgData,
    XDG_CACHE_HOME: dirs.xdgCache,
    XDG_STATE_HOME: dirs.xdgState,
  };
  if (files.config !== null) env.OPENCODE_CONFIG = runConfigFile(home);
  return env;
}

/**
 * Creates the run's opencode directories and files under `home` (which exists, empty or furnished by
 * furnishHome) and returns the variables that point opencode at them. Nothing carries over from an
 * earlier run: a global AGENTS.md, a changed config or an earlier session database exist only in the
 * home they were written to. `furnished`: furnishHome wrote this run's files already, with this `access`.
 */
export function prepareRunHome(home: string, files: RunFiles, access: RunProviderAccess, furnished = false): Record<string, string> {
  if (furnished) return homeEnv(home, files);
  const dirs = opencodeDirs(home);
  const write = (file: string, content: string) => writeFileSync(file, content, { mode: 0o600 });
  const auth = fillMarks(files.auth, access);
  try {
    // A furnished home takes the file at once; an empty one says so, and gets its directories first.
    write(`${dirs.data}/auth.json`, auth);
  } catch (err) {
    if (!isMissing(err)) throw err;
    for (const d of homeDirs(home)) mkdirSync(d, { mode: 0o700 });
    write(`${dirs.config}/package-lock.json`, PLUGIN_LOCK);
    write(`${dirs.data}/auth.json`, auth);
  }
  if (files.config !== null) {
    const file = runConfigFile(home);
    const config = fillMarks(files.config, access);
    try {
      writeFileSync(file, config, { mode: 0o400 });
    } catch (err) {
      // Furnished for a placeholder this run did not get: read-only already (root writes it anyway).
      if ((err as NodeJS.ErrnoException).code !== "EACCES") throw err;
      chmodSync(file, 0o600);
      writeFileSync(file, config);
    }
    // A home furnished without access has the file writable (empty); a fresh one is 0400 already.
    chmodSync(file, 0o400);
  }
  return homeEnv(home, files);
}

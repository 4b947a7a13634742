// A run's opencode session database, read out of its home once the agent is gone, and written into a follow-up's fresh home.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { SessionFiles } from "../runs/continuation.ts";
import { opencodeDirs } from "./dirs.ts";

/**
 * opencode keeps sessions in SQLite in its data dir; after an exit (or a kill) the WAL may hold most of
 * it (measured: a 4 KiB database beside an 800 KiB WAL), so both are kept. The -shm index is rebuilt.
 */
export const SESSION_FILE_NAMES = ["opencode.db", "opencode.db-wal"] as const;

/**
 * Reads one file the agent could have replaced: only a regular file with one link, not through a symlink
 * (O_NOFOLLOW on the file, the directory resolved to where it should be), so an agent cannot make the
 * server copy something else into the store. Null when it is missing; throws when it is not acceptable.
 */
function readAgentFile(file: string, maxBytes: number): Uint8Array | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.nlink !== 1) throw new Error(`${path.basename(file)} is not a plain file`);
    if (st.size > maxBytes) throw new Error(`${path.basename(file)} is ${st.size} bytes, over ${maxBytes}`);
    const data = new Uint8Array(st.size);
    let at = 0;
    while (at < data.length) {
      const n = readSync(fd, data, at, data.length - at, at);
      if (n === 0) break;
      at += n;
    }
    return data.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

/** The session files under `home` (the agent's processes are all gone); null when opencode wrote none. */
export function readSessionFiles(home: string, directory: string, sessionId: string, maxBytes: number): SessionFiles | null {
  const dir = opencodeDirs(home).data;
  // No database, no session (the files read below would make none): one lstat instead of resolving two paths and
  // opening two files (~90 µs on a run's path here). A link in its place is resolved, and refused, below.
  if (!lstatSync(path.join(dir, SESSION_FILE_NAMES[0]), { throwIfNoEntry: false })) return null;
  // Every directory on the way is the one the server created, not a link the agent put in its place.
  if (realpathSync(dir) !== path.join(realpathSync(home), path.relative(home, dir))) throw new Error("opencode's data directory was replaced by a link");
  const files: SessionFiles["files"] = [];
  let total = 0;
  for (const name of SESSION_FILE_NAMES) {
    const data = readAgentFile(path.join(dir, name), maxBytes - total);
    if (!data) continue;
    total += data.length;
    files.push({ name, data });
  }
  return files.some((f) => f.name === "opencode.db") ? { sessionId, directory, files } : null;
}

/** Puts a kept session into a fresh run home (created by prepareRunHome), so `opencode run --session` finds it. */
export function writeSessionFiles(home: string, session: SessionFiles): void {
  const dir = opencodeDirs(home).data;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of session.files) {
    if (!(SESSION_FILE_NAMES as readonly string[]).includes(f.name)) throw new Error(`unexpected session file ${JSON.stringify(f.name)}`);
    writeFileSync(path.join(dir, f.name), f.data, { mode: 0o600, flag: "wx" });
  }
}

// Removes the key proxy's socket directories that servers killed without a shutdown (SIGKILL, OOM) left in the temp dir.
import { lstatSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";

export const SOCKET_DIR_PREFIX = "ocs-net-";

/** A directory this young may belong to a server still starting (its socket not listening yet). */
const MIN_AGE_MS = 60_000;
/** Bounded work at start-up, whatever the temp dir holds. */
const MAX_CHECKED = 1000;
const CONNECT_TIMEOUT_MS = 1000;

/** True when something listens on the unix socket: the directory is a live server's, whoever runs it. */
function listening(socket: string): Promise<boolean> {
  const { promise, resolve } = Promise.withResolvers<boolean>();
  const timer = setTimeout(() => resolve(true), CONNECT_TIMEOUT_MS);
  Bun.connect({ unix: socket, socket: { data() {}, error() {}, close() {} } }).then(
    (conn) => {
      conn.end();
      resolve(true);
    },
    () => resolve(false),
  ).finally(() => clearTimeout(timer));
  return promise;
}

/**
 * Finds `ocs-net-*` directories of this user in `tmpDir` (other than `own`) whose provider socket nobody
 * listens on any more and removes them; returns their paths. Liveness is asked of the socket, not of a
 * pid, because another server on this host may live in another pid namespace. A timeout counts as alive.
 */
export async function sweepStaleSocketDirs(tmpDir: string, own: string): Promise<string[]> {
  const now = Date.now();
  const uid = process.getuid?.() ?? -1;
  let names: string[];
  try {
    names = readdirSync(tmpDir).filter((n) => n.startsWith(SOCKET_DIR_PREFIX));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names.slice(0, MAX_CHECKED)) {
    const dir = path.join(tmpDir, name);
    if (dir === own) continue;
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid || now - st.mtimeMs < MIN_AGE_MS) continue;
      if (await listening(path.join(dir, "provider.sock"))) continue;
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // Gone meanwhile, or not ours to remove: left alone.
    }
  }
  return removed;
}

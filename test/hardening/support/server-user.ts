// Runs the server as an unprivileged user, as deploy/ and the Docker image do, so the agent shares a non-root uid with it.
//
// As root the agent could read anything (root bypasses /proc permission checks), which would make
// "the agent cannot read the server's environment" untestable. Under a test run as root the server
// is started through setpriv as nobody; under a normal user it simply runs as that user.
import { spawnSync } from "node:child_process";

export interface ServerUser {
  uid: number;
  gid: number;
  /** The command that starts `cmd` as this user. */
  wrap(cmd: string[]): string[];
  /** Makes the user own these directories (recursively), so the server can write there. */
  own(...dirs: string[]): void;
}

const NOBODY = 65534;

export function serverUser(): ServerUser {
  const uid = process.getuid?.() ?? NOBODY;
  if (uid !== 0) {
    return { uid, gid: process.getgid?.() ?? uid, wrap: (cmd) => cmd, own: () => {} };
  }
  const setpriv = Bun.which("setpriv");
  if (!setpriv) throw new Error("running as root needs setpriv (util-linux) to start the server as an unprivileged user");
  return {
    uid: NOBODY,
    gid: NOBODY,
    wrap: (cmd) => [setpriv, `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", ...cmd],
    own: (...dirs) => {
      const r = spawnSync("chown", ["-R", `${NOBODY}:${NOBODY}`, ...dirs], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`chown failed: ${r.stderr}`);
    },
  };
}

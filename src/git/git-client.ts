// Runs git through simple-git with a hardened environment: no host config or credential helpers, no hooks,
// no prompts, only http(s), and the token offered by a host-scoped credential helper — never in argv or config files.
import { simpleGit, type SimpleGit } from "simple-git";

export interface GitAuth {
  /** scheme://host[:port]/ the credential is valid for. */
  origin: string;
  username: string;
  token: string;
}

export interface GitClientOptions {
  /** Absolute path of the git executable. */
  binary: string;
  /** PATH, proxy and CA variables from the host. */
  baseEnv: Record<string, string>;
  /** An empty private directory used as git's HOME. */
  home: string;
  /** Extra variables for every git process (the run cookie, author identity). */
  extraEnv: Record<string, string>;
  auth: GitAuth | null;
  /** Allow plain http:// (only for hosts the operator allowed explicitly). */
  allowHttp: boolean;
  /** Kill a git process that has been silent this long. */
  inactivityTimeoutMs: number;
  signal: AbortSignal;
}

// Answers only `get`; the token comes from this process's environment, so it is in no file and no argv.
const CREDENTIAL_HELPER = `!f() { test "$1" = get && printf 'username=%s\\npassword=%s\\n' "$OCS_GIT_USERNAME" "$OCS_GIT_TOKEN"; }; f`;

/** Settings passed as GIT_CONFIG_* (command-line priority): they override anything the agent wrote into .git/config. */
export function hardenedConfig(auth: GitAuth | null, allowHttp: boolean): [string, string][] {
  const entries: [string, string][] = [
    ["core.hooksPath", "/dev/null"],
    ["core.fsmonitor", "false"],
    ["credential.helper", ""],
    ["protocol.allow", "never"],
    ["protocol.https.allow", "always"],
    ["http.lowSpeedLimit", "1000"],
    ["http.lowSpeedTime", "60"],
    ["advice.detachedHead", "false"],
    ["init.defaultBranch", "main"],
    ["commit.gpgSign", "false"],
    ["tag.gpgSign", "false"],
    // Never prune: workspaces made with --shared borrow a mirror's objects for the whole run.
    ["gc.auto", "0"],
    ["maintenance.auto", "false"],
    // Writing thousands of files is most of a clone: use every core for it.
    ["checkout.workers", "0"],
  ];
  if (allowHttp) entries.push(["protocol.http.allow", "always"]);
  if (auth) entries.push([`credential.${auth.origin.replace(/\/$/, "")}.helper`, CREDENTIAL_HELPER]);
  return entries;
}

export function gitEnv(opts: Pick<GitClientOptions, "baseEnv" | "home" | "extraEnv" | "auth" | "allowHttp">): Record<string, string> {
  const env: Record<string, string> = {
    ...opts.baseEnv,
    ...opts.extraEnv,
    HOME: opts.home,
    XDG_CONFIG_HOME: opts.home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    // Untranslated messages: errors are matched on and shown to users.
    LC_ALL: "C",
    LANGUAGE: "C",
  };
  const config = hardenedConfig(opts.auth, opts.allowHttp);
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  if (opts.auth) {
    env.OCS_GIT_USERNAME = opts.auth.username;
    env.OCS_GIT_TOKEN = opts.auth.token;
  }
  return env;
}

/** A simple-git instance for `dir` with the hardened environment. */
export function gitIn(dir: string, opts: GitClientOptions): SimpleGit {
  return simpleGit({
    baseDir: dir,
    binary: opts.binary,
    maxConcurrentProcesses: 1,
    abort: opts.signal,
    timeout: { block: opts.inactivityTimeoutMs },
    // The settings simple-git guards are set here by the server itself, never from request data.
    unsafe: {
      allowUnsafeConfigEnvCount: true,
      allowUnsafeConfigPaths: true,
      allowUnsafeHooksPath: true,
      allowUnsafeCredentialHelper: true,
      allowUnsafeProtocolOverride: true,
      allowUnsafeFsMonitor: true,
    },
  }).env(gitEnv(opts));
}

/** git's own message from a simple-git error, first meaningful lines only. */
export function gitMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("hint:"));
  return lines.slice(0, 4).join(" ").slice(0, 1000) || "git failed";
}

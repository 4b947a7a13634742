// Inside a sandbox without a network: loopback ports that lead to the server's proxies (unix sockets bound in), around the agent.
//
// A sandbox made with --unshare-net has only its own loopback. opencode needs an http:// base URL
// and tools an HTTP(S)_PROXY, so this process listens on 127.0.0.1:<port> inside and carries each
// connection to a unix socket the server bound into the sandbox; then it runs the agent and exits
// with the agent's status. Started as `bun <this file> --tcp PORT=SOCKET … -- ARGV…` from source,
// or as a hidden subcommand of the compiled server (`opencode-server __bridge …`).
import type { Socket } from "bun";
import os from "node:os";
import { SocketWriter } from "./socket-pipe.ts";

export const BRIDGE_SUBCOMMAND = "__bridge";
const SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];

export function bridgePrefix(compiled = import.meta.path.startsWith("/$bunfs/")): string[] {
  if (compiled) return [process.execPath, BRIDGE_SUBCOMMAND];
  // Never read a bunfig.toml or .env from the agent's directory, where this starts.
  return [process.execPath, "--no-env-file", "--config=/dev/null", "--no-install", import.meta.path];
}

/** The files the source form needs to see inside the sandbox (none when compiled). */
export function bridgeFiles(compiled = import.meta.path.startsWith("/$bunfs/")): string[] {
  return compiled ? [process.execPath] : [process.execPath, import.meta.dir];
}

interface Pipe {
  toUnix: SocketWriter | null;
  early: Uint8Array[];
  toClient: SocketWriter | null;
  unix: Socket<unknown> | null;
}

type Endpoint = { hostname: string; port: number } | { unix: string };

/** Carries each connection accepted on `from` to `to` (TCP → unix socket, or the reverse for a warm agent's server port). */
function relay(from: Endpoint, to: Endpoint) {
  const handlers: Bun.SocketHandler<Pipe> = {
    open(client) {
      client.data = { toUnix: null, early: [], toClient: new SocketWriter(client as Socket<unknown>), unix: null };
      const socket = {
        data: (_u: Socket<undefined>, chunk: Buffer) => client.data.toClient?.write(new Uint8Array(chunk)),
        drain: () => client.data.toUnix?.drain(),
        close: () => client.data.toClient?.end(),
        error: () => client.data.toClient?.end(),
      };
      void ("unix" in to ? Bun.connect({ unix: to.unix, socket }) : Bun.connect({ hostname: to.hostname, port: to.port, socket })).then(
        (u) => {
          const toUnix = new SocketWriter(u as Socket<unknown>);
          toUnix.source = client as Socket<unknown>;
          if (client.data.toClient) client.data.toClient.source = u as Socket<unknown>;
          for (const chunk of client.data.early.splice(0)) toUnix.write(chunk);
          client.data.toUnix = toUnix;
          client.data.unix = u as Socket<unknown>;
        },
        () => client.end(),
      );
    },
    data(client, chunk) {
      if (client.data.toUnix) client.data.toUnix.write(new Uint8Array(chunk));
      else client.data.early.push(new Uint8Array(chunk));
    },
    drain: (client) => client.data.toClient?.drain(),
    close: (client) => void (client.data.toUnix ? client.data.toUnix.end() : client.data.unix?.end()),
    error: (client) => client.data.toUnix?.end(),
};
return "unix" in from ? Bun.listen<Pipe>({ unix: from.unix, socket: handlers }) : Bun.listen<Pipe>({ hostname: from.hostname, port: from.port, socket: handlers });
}

function fail(message: string): never {
  process.stderr.write(`bridge: ${message}\n`);
  process.exit(126);
}

/** Relays, runs the command after `--`, and exits as it did. */
/** `env`: the bridge's own environment (main.ts hands it over), passed on to the command unchanged. */
export async function runBridge(args: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<never> {
  const at = args.indexOf("--");
  const command = at === -1 ? [] : args.slice(at + 1);
  if (command.length === 0) fail("usage: --tcp PORT=SOCKET … [--unix SOCKET=PORT …] -- COMMAND [ARGS…]");
  const listeners = [];
  for (let i = 0; i < at; i += 2) {
    const tcp = args[i] === "--tcp" ? /^(\d{1,5})=(\/.+)$/.exec(args[i + 1] ?? "") : null;
    // --unix: the reverse, a socket in the sandbox's bound root that leads the server to a loopback port inside.
    const unix = args[i] === "--unix" ? /^(\/.+)=(\d{1,5})$/.exec(args[i + 1] ?? "") : null;
    if (tcp) listeners.push(relay({ hostname: "127.0.0.1", port: Number(tcp[1]) }, { unix: tcp[2] as string }));
    else if (unix) listeners.push(relay({ unix: unix[1] as string }, { hostname: "127.0.0.1", port: Number(unix[2]) }));
    else fail(`bad argument ${args[i]} ${args[i + 1] ?? ""}`);
  }
  const child = Bun.spawn(command, { stdin: "inherit", stdout: "inherit", stderr: "inherit", env: { ...env } });
  for (const sig of SIGNALS) process.on(sig, () => child.kill(sig));
  await child.exited;
  for (const l of listeners) l.stop(true);
  // As a shell reports it (and bwrap does): a death by signal N is 128+N.
  const signal = child.signalCode;
  process.exit(child.exitCode ?? (signal ? 128 + (os.constants.signals[signal as NodeJS.Signals] ?? 0) : 1));
}

// Run as its own process (source mode): the one place it reads its environment, to hand it over.
if (import.meta.main) await runBridge(process.argv.slice(2), process.env);

// Entry point: run a subcommand (the compiled binary is also the Landlock helper and the in-sandbox bridge), or parse config, start the server, and turn SIGTERM/SIGINT into a graceful shutdown.
import { BRIDGE_SUBCOMMAND, runBridge } from "./network/bridge.ts";
import { LANDLOCK_EXEC_SUBCOMMAND, runLandlockExec } from "./sandbox/landlock-exec.ts";
import type { RunningServer } from "./server.ts";

// The helpers run once per agent, inside its sandbox: only they are loaded before the check, so they start
// without evaluating the server's modules (in the compiled binary that halves their start-up).
if (process.argv[2] === LANDLOCK_EXEC_SUBCOMMAND) runLandlockExec(process.argv.slice(3), process.env);
if (process.argv[2] === BRIDGE_SUBCOMMAND) await runBridge(process.argv.slice(3), process.env);

const [{ runCli }, { ConfigError, loadConfig }, { SignalCounter }, { SetupError }, { ListenError, startServer }] = await Promise.all([
  import("./cli.ts"),
  import("./config.ts"),
  import("./lib/signals.ts"),
  import("./opencode/setup.ts"),
  import("./server.ts"),
]);

/** One JSON line: a start-up failure never prints a stack, source excerpts or SQL. */
function reportStartupFailure(err: unknown): void {
  const line = (msg: string, fields: Record<string, unknown> = {}) =>
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: "error", msg, ...fields }) + "\n");
  if (err instanceof SetupError) return void line(err.message, { variable: err.variable });
  if (err instanceof ConfigError) return void line(`invalid configuration: ${err.message}`, { variable: err.variable });
  if (err instanceof ListenError) return void line(err.message);
  const code = (err as { code?: unknown } | null)?.code;
  line(`start-up failed: ${err instanceof Error ? err.message : String(err)}`, typeof code === "string" ? { code } : {});
}

async function main(): Promise<void> {
  const exitCode = await runCli(process.argv.slice(2), process.env);
  if (exitCode !== null) process.exit(exitCode);
  let server: RunningServer | undefined;
  const signals = new SignalCounter();
  const shutdown = () => {
    if (!server) return;
    // A second signal means "now": skip the grace period.
    void server.shutdown(signals.seen > 1 ? 0 : undefined).then(() => process.exit(0));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    const nth = signals.next();
    if (nth === 0) return void server?.logger.debug("signal ignored: the same press as the first", { signal });
    server?.logger.info("signal received", { signal, action: nth > 1 ? "stopping runs now" : "draining; send it again to stop runs now" });
    shutdown();
  };
  // Handlers first: a signal during start-up must not kill the process with the default action.
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // SIGHUP re-reads API_KEYS_FILE (before start-up is done there is nothing to reload; the default action would kill).
  process.on("SIGHUP", () => void server?.reloadKeys());
  try {
    server = await startServer(loadConfig(process.env));
  } catch (err) {
    reportStartupFailure(err);
    process.exit(1);
  }
  if (signals.seen > 0) shutdown();
  const running = server;
  // The probe runs after listen: a run may already be in flight, so stop it before exiting.
  running.ready.catch(async (err: unknown) => {
    reportStartupFailure(err);
    await running.shutdown(0).catch(() => {});
    process.exit(1);
  });
}

await main();

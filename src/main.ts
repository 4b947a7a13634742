// Entry point: run a subcommand, or parse config, start the server, and turn SIGTERM/SIGINT into a graceful shutdown.
import { runCli } from "./cli.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { SetupError } from "./opencode/setup.ts";
import { startServer, type RunningServer } from "./server.ts";

function fatal(msg: string, fields: Record<string, unknown> = {}): never {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: "error", msg, ...fields }) + "\n");
  process.exit(1);
}

async function main(): Promise<void> {
  const exitCode = await runCli(process.argv.slice(2), process.env);
  if (exitCode !== null) process.exit(exitCode);
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) fatal(`invalid configuration: ${err.message}`, { variable: err.variable });
    throw err;
  }
  // Handlers first: a signal during start-up must not kill the process with the default action.
  let server: RunningServer | undefined;
  let signals = 0;
  const shutdown = () => {
    if (!server) return;
    // A second signal means "now": skip the grace period.
    void server.shutdown(signals > 1 ? 0 : undefined).then(() => process.exit(0));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    server?.logger.info("signal received", { signal });
    shutdown();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    server = await startServer(config);
  } catch (err) {
    if (err instanceof SetupError) fatal(err.message, { variable: err.variable });
    throw err;
  }
  if (signals > 0) shutdown();
  server.ready.catch((err: unknown) => {
    if (err instanceof SetupError) fatal(err.message, { variable: err.variable });
    fatal(`start-up failed: ${err instanceof Error ? err.message : String(err)}`);
  });
}

await main();

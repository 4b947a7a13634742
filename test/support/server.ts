// Starts a real server in-process on a loopback port 0 and captures its log lines.
import { loadConfig } from "../../src/config.ts";
import { startServer, type RunningServer, type ServerOverrides } from "../../src/server.ts";

export interface TestServer {
  url: string;
  server: RunningServer;
  logs: string[];
  logRecords(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startTestServer(env: Record<string, string>, overrides: Omit<ServerOverrides, "logSink"> = {}): Promise<TestServer> {
  const logs: string[] = [];
  const server = await startServer(loadConfig(env), { ...overrides, logSink: (line) => logs.push(line) });
  await server.ready;
  return {
    url: server.url,
    server,
    logs,
    logRecords: () => logs.map((l) => JSON.parse(l) as Record<string, unknown>),
    stop: () => server.shutdown(0),
  };
}

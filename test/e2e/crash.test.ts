// kill -9 the server mid-run, start it again: the run reads interrupted, and nothing the dead server started survives.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, utimesSync } from "node:fs";
import path from "node:path";
import { fakeScript, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts";
import { readJson } from "../support/http.ts";
import { opencodeServerEnv } from "../support/opencode-env.ts";
import { serverTmp, SOURCE_CMD, spawnServer } from "../support/process-server.ts";
import { processesRunning } from "../support/procs.ts";
import { readEvents } from "../support/sse.ts";
import { waitFor, settledDir } from "../support/wait.ts";

let llm: FakeLlm;
beforeAll(() => {
  llm = startFakeLlm();
});
afterAll(async () => {
  await llm?.stop();
});

for (const sandbox of ["off", "bwrap"] as const) {
  test(`SANDBOX=${sandbox}: a run in flight when the server is SIGKILLed is interrupted — never silently lost — and its processes and workspace go ${sandbox === "off" ? "at restart" : "with the server"}`, async () => {
    // Its own TMPDIR, the same for both servers: the key proxy's socket directory lives there.
    const tmp = serverTmp();
    const env: Record<string, string> = { ...opencodeServerEnv(llm, { SANDBOX: sandbox }), TMPDIR: tmp };
    const socketDirs = () => readdirSync(tmp).filter((e) => e.startsWith("ocs-net-"));
    const first = await spawnServer(SOURCE_CMD, env);
    const cmd = `sleep 353.${process.pid}${sandbox.length}`;
    const created = await fetch(`${first.url}/runs`, { method: "POST", body: fakeScript({ say: "Working.", bash: cmd, timeout: 600_000 }) });
    const { id } = await readJson(created);
    await waitFor(() => processesRunning(cmd).length > 0, { what: "the agent's sleep", timeoutMs: 60_000 });

    first.proc.kill("SIGKILL");
    await first.proc.exited;
    if (sandbox === "off") {
      // The dead server could clean nothing up: its agent's tool is still running, its workspace still there.
      expect(processesRunning(cmd)).toHaveLength(1);
    } else {
      // The sandbox dies with the server (bwrap --die-with-parent ends its PID namespace); only the directory is left.
      await waitFor(() => processesRunning(cmd).length === 0, { what: "the sandbox to die with the server", timeoutMs: 10_000 });
    }
    // The run's workspace, beside the spare workspaces the server had made ahead.
    const spares = readdirSync(env.WORK_DIR as string).filter((e) => e.startsWith("opencode-spare-"));
    expect(readdirSync(env.WORK_DIR as string).filter((e) => !spares.includes(e))).toHaveLength(1);

    // The dead server's socket directory, made old enough for the next server to take it for a dead one's.
    const [deadSockets] = socketDirs();
    expect(socketDirs()).toEqual([deadSockets as string]);
    const old = new Date(Date.now() - 120_000);
    utimesSync(path.join(tmp, deadSockets as string), old, old);

    const second = await spawnServer(SOURCE_CMD, env);
    try {
      expect(processesRunning(cmd)).toEqual([]);
      expect(await settledDir(env.WORK_DIR as string)).toEqual([]);
      // The dead server's spares (perhaps half made) are gone too; the new server made its own.
      await waitFor(() => !readdirSync(env.WORK_DIR as string).some((e) => spares.includes(e)), { what: "the dead server's spare workspaces removed" });
      const view = await readJson(await fetch(`${second.url}/runs/${id}`));
      expect(view).toMatchObject({
        id,
        status: "interrupted",
        code: "interrupted",
        error: "The server stopped (crash, kill or restart) before the run finished (it was running)",
      });
      expect(view.result).toMatchObject({ success: false, code: "interrupted", run_id: id });
      const events = await readEvents(await fetch(`${second.url}/runs/${id}/events`));
      expect(events.map((e) => (e.data.type === "status" ? e.data.status : e.data.type)).slice(-2)).toEqual(["interrupted", "result"]);
      expect(second.records().find((r) => r.msg === "runs interrupted by the previous server process")).toMatchObject({ runs: [id], workspaces_removed: 1 });
      await waitFor(() => !existsSync(path.join(tmp, deadSockets as string)), { what: "the dead server's socket directory removed" });
      expect(second.records().find((r) => r.msg === "removed socket directories of servers that are gone")).toMatchObject({ level: "info", count: 1 });
      expect(socketDirs()).toHaveLength(1);
    } finally {
      expect(await second.stop()).toBe(0);
    }
    // A server that shuts down removes its own.
    expect(socketDirs()).toEqual([]);
  });
}

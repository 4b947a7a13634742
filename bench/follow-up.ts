// 11. A follow-up run (continuing a kept session) vs a fresh run, and what keeping the session costs next to `opencode export`.
import { Database } from "bun:sqlite";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../src/config.ts";
import { opencodeDirs } from "../src/opencode/dirs.ts";
import { opencodeArgs } from "../src/opencode/runner.ts";
import { readSessionFiles } from "../src/opencode/session-files.ts";
import { encodeContinuation } from "../src/runs/continuation.ts";
import { startServer } from "../src/server.ts";
import { fakeScript, startFakeLlm } from "../test/support/fake-llm.ts";
import { fakeProviderConfig, opencodeServerEnv } from "../test/support/opencode-env.ts";
import { interleave, median, ms, percentile, postRun, tempDir, type BenchContext, type BenchResult } from "./support/common.ts";

const PROMPT = `List the files\n${fakeScript({ bash: "ls -la" }, { text: "Listed: {{tool_output}}" })}`;

/** POST /run and its answer (the run must succeed). */
async function runJson(url: string, body: object): Promise<{ run_id: string; success: boolean }> {
  const res = await fetch(`${url}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const answer = (await res.json()) as { run_id: string; success: boolean };
  if (res.status !== 200 || !answer.success) throw new Error(`run failed with ${res.status}: ${JSON.stringify(answer).slice(0, 300)}`);
  return answer;
}

async function timed<T>(fn: () => Promise<T> | T): Promise<[number, T]> {
  const t = performance.now();
  const value = await fn();
  return [performance.now() - t, value];
}

export async function followUp(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.quick ? 1 : 8;
  const warmup = ctx.quick ? 0 : 1;
  const llm = startFakeLlm();
  const env = { ...opencodeServerEnv(llm), LOG_LEVEL: "info" };
  const config = loadConfig(env);
  const server = await startServer(config, { logSink: () => {} });
  try {
    await server.ready;
    let parent = (await runJson(server.url, { prompt: PROMPT })).run_id;
    // Each follow-up continues the last one, so the conversation (and what is kept) grows as a real one does.
    const next = async () => {
      parent = (await runJson(server.url, { continue: parent, prompt: PROMPT })).run_id;
    };
    const { a, b } = await interleave(rounds, warmup, () => postRun(server.url, PROMPT), next);
    const db = new Database(path.join(config.dataDir, "opencode-server.db"), { readonly: true });
    const sizes = (db.query("SELECT length(data) AS n FROM continuations").all() as { n: number }[]).map((r) => r.n);
    db.close();

    // What the server does at a run's end (read the agent's session files, compress them) next to `opencode export`.
    const home = tempDir("ocs-bench-session-", config.workDir);
    const cwd = path.join(home, "work");
    mkdirSync(cwd);
    const dirs = opencodeDirs(home);
    const agentEnv = { ...config.agentEnv, HOME: home, XDG_CONFIG_HOME: dirs.xdgConfig, XDG_DATA_HOME: dirs.xdgData, XDG_CACHE_HOME: dirs.xdgCache, XDG_STATE_HOME: dirs.xdgState, TMPDIR: home, OPENCODE_CONFIG_CONTENT: JSON.stringify(fakeProviderConfig(llm)) };
    const p = Bun.spawn(opencodeArgs(config.opencode.bin, { runId: "bench-session", model: config.opencode.defaultModel, agent: null }), { cwd, env: agentEnv, stdin: new Blob([PROMPT]), stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    await p.exited;
    const sessionId = /"sessionID":"([^"]+)"/.exec(out)?.[1] ?? "";
    const keep: number[] = [];
    let raw = 0;
    let packed = 0;
    for (let i = 0; i < (ctx.quick ? 2 : 20); i++) {
      const [t, blob] = await timed(() => {
        const files = readSessionFiles(home, cwd, sessionId, 1 << 30);
        if (!files) throw new Error("no session files");
        raw = files.files.reduce((n, f) => n + f.data.length, 0);
        return encodeContinuation({ session: files, commits: null });
      });
      keep.push(t);
      packed = blob.length;
    }
    const [exportMs] = await timed(async () => {
      const e = Bun.spawn([config.opencode.bin, "export", sessionId], { cwd, env: agentEnv, stdout: "pipe", stderr: "pipe" });
      await Promise.all([new Response(e.stdout).text(), new Response(e.stderr).text(), e.exited]);
    });
    rmSync(home, { recursive: true, force: true });

    const ratio = median(b) / median(a);
    ctx.log(`follow-up: fresh ${ms(median(a))}, follow-up ${ms(median(b))}; keep ${ms(median(keep))} vs export ${ms(exportMs)}`);
    return {
      name: "11. A follow-up run (continued session) vs a fresh run",
      target: "≤ 1.10×",
      met: ratio <= 1.1,
      summary: `${ratio.toFixed(3)}× (${ms(median(b))} vs ${ms(median(a))}); keeping a session ${ms(median(keep))}, ${(packed / 1024).toFixed(0)} KiB`,
      details: [
        "| | p50 | p99 | min | max |",
        "|---|---|---|---|---|",
        `| fresh run (POST /run) | ${ms(median(a))} | ${ms(percentile(a, 0.99))} | ${ms(Math.min(...a))} | ${ms(Math.max(...a))} |`,
        `| follow-up (POST /run with continue) | ${ms(median(b))} | ${ms(percentile(b, 0.99))} | ${ms(Math.min(...b))} | ${ms(Math.max(...b))} |`,
        "",
        `${rounds} interleaved round(s) after ${warmup} warm-up; each follow-up continues the one before (the conversation grows to ${rounds + warmup + 1} runs). ` +
          `Kept per run in the store (gzipped session database and WAL): ${(Math.min(...sizes) / 1024).toFixed(0)}–${(Math.max(...sizes) / 1024).toFixed(0)} KiB over ${sizes.length} runs.`,
        "",
        `Keeping one session at a run's end (read opencode.db + its WAL, ${(raw / 1024).toFixed(0)} KiB, and gzip them to ${(packed / 1024).toFixed(0)} KiB): ${ms(median(keep))} at the median of ${keep.length}; ` +
          `\`opencode export\` of the same session, the alternative, took ${ms(exportMs)} (a second opencode start per run, and an import before each follow-up).`,
      ],
    };
  } finally {
    await server.shutdown(0);
    await llm.stop();
  }
}

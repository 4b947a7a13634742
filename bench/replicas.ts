// 10. Many replicas on one Postgres: events across replicas, claim latency, Postgres vs SQLite per run, the shared queue's throughput.
import { existsSync } from "node:fs";
import { startPostgres } from "../test/support/postgres.ts";
import { waitFor } from "../test/support/wait.ts";
import { interleave, median, ms, percentile, type BenchContext, type BenchResult } from "./support/common.ts";
import { createRun, follow, runNow, Script, startReplica, stopAll, type Replica, type Seen } from "./support/replica.ts";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const GAP_MS = 5;
const REPLICAS = 3;
const SLOTS = 4;
const RUNS = 48;
const AGENT_MS = 1000;

const row = (label: string, xs: readonly number[]) => `| ${label} | ${ms(median(xs))} | ${ms(percentile(xs, 0.99))} | ${xs.length} |`;
const isRunning = (s: Seen) => s.event.data.type === "status" && s.event.data.status === "running";

/** Ends whatever still waits, then stops the replicas (a failed round must not leave a run holding a slot). */
async function teardown(script: Script, replicas: Replica[]): Promise<void> {
  script.releaseAll();
  await waitFor(() => replicas.every((r) => r.graph.runs.inFlight === 0), { what: "the released runs to end", timeoutMs: 5_000 }).catch(() => undefined);
  await stopAll(replicas);
}

interface Claim {
  /** POST /runs sent → its "running" event parsed by a client following it on the same replica. */
  running: number;
  accepted: number;
  agent: number;
  /** The replica that ran it. */
  by: string;
}

/** POST /runs a no-op run on `r`, then follow it there (SSE) to its end. */
async function claimRound(r: Replica, script: Script): Promise<Claim> {
  const t0 = performance.now();
  const id = await createRun(r, "noop");
  const accepted = performance.now() - t0;
  const seen = await follow(r, id);
  const started = script.started.get(id);
  const running = seen.find(isRunning);
  if (!started || !running) throw new Error(`run ${id} ended without running`);
  return { running: running.at - t0, accepted, agent: started.at - t0, by: started.replica };
}

const claims = () => ({ running: [] as number[], accepted: [] as number[], agent: [] as number[], here: 0 });
function record(into: ReturnType<typeof claims>, c: Claim, receiver: string): void {
  into.running.push(c.running);
  into.accepted.push(c.accepted);
  into.agent.push(c.agent);
  if (c.by === receiver) into.here++;
}

/** Measures 1 and 2: a run on A followed from B; then POST /runs → running with both idle. */
async function pair(url: string, quick: boolean) {
  const script = new Script();
  const replicas: Replica[] = [];
  const path = { stored: [] as number[], heard: [] as number[], read: [] as number[], onB: [] as number[], onA: [] as number[] };
  const claim = claims();
  let discarded = 0;
  try {
    // B first, its one slot held: every run after that can only run on A.
    const b = await startReplica("b", url, script, { MAX_CONCURRENT_RUNS: "1" });
    replicas.push(b);
    const hold = await createRun(b, "hold");
    await waitFor(() => script.started.get(hold)?.replica === "b", { what: "the blocking run to start on B" });
    const a = await startReplica("a", url, script, { MAX_CONCURRENT_RUNS: String(SLOTS) });
    replicas.push(a);
    const runs = quick ? 1 : 4;
    const per = quick ? 20 : 50;
    for (let i = 0; i <= runs; i++) {
      const n = i === 0 ? 10 : per;
      const id = await createRun(a, `emit ${n} ${GAP_MS}`);
      const live = [Promise.withResolvers<void>(), Promise.withResolvers<void>()] as const;
      const streams = Promise.all([follow(b, id, () => live[0].resolve()), follow(a, id, () => live[1].resolve())]);
      // Both followers have their first (stored) event, so their subscriptions are live: the agent may start.
      await Promise.race([Promise.all(live.map((l) => l.promise)), streams]);
      script.go(id);
      const [onB, onA] = await streams;
      if (i === 0) continue;
      if (script.started.get(id)?.replica !== "a") {
        discarded++;
        continue;
      }
      const since = (at: number | undefined, key: string) => (at === undefined ? [] : [at - (script.handed.get(key) as number)]);
      for (let k = 0; k < n; k++) {
        const key = `${id} e${k}`;
        path.stored.push(...since(a.marks.stored.get(key), key));
        path.heard.push(...since(b.marks.readFrom.get(key), key));
        path.read.push(...since(b.marks.read.get(key), key));
      }
      for (const [into, seen] of [[path.onB, onB], [path.onA, onA]] as const) {
        for (const s of seen) if (s.event.data.type === "text") into.push(...since(s.at, `${id} ${s.event.data.text}`));
      }
    }
    script.release();
    await follow(b, hold);
    const rounds = quick ? 20 : 200;
    for (let i = 0; i < 10 + rounds; i++) {
      const r = i % 2 === 0 ? a : b;
      const c = await claimRound(r, script);
      if (i >= 10) record(claim, c, r.name);
    }
  } finally {
    await teardown(script, replicas);
  }
  return { path, claim, discarded };
}

/** Measures 2 (reference) and 3: one replica on Postgres and one on SQLite, side by side. */
async function sideBySide(url: string, quick: boolean) {
  const script = new Script();
  const replicas: Replica[] = [];
  const claim = { pg: claims(), sqlite: claims() };
  try {
    const pg = await startReplica("pg", url, script);
    replicas.push(pg);
    const sqlite = await startReplica("sqlite", null, script);
    replicas.push(sqlite);
    const runs = await interleave(quick ? 30 : 1000, 20, () => runNow(sqlite, "noop"), () => runNow(pg, "noop"));
    const rounds = quick ? 20 : 200;
    for (let i = 0; i < 10 + rounds; i++) {
      for (const [r, into] of [[sqlite, claim.sqlite], [pg, claim.pg]] as const) {
        const c = await claimRound(r, script);
        if (i >= 10) record(into, c, r.name);
      }
    }
    return { sqlite: runs.a, pg: runs.b, claim };
  } finally {
    await teardown(script, replicas);
  }
}

/** Measure 4: RUNS one-second runs sent at once, spread over REPLICAS replicas of SLOTS slots each. */
async function shared(url: string, quick: boolean) {
  const script = new Script();
  const replicas: Replica[] = [];
  const walls: number[] = [];
  const singles: number[] = [];
  const spreads: string[] = [];
  try {
    for (let i = 0; i < REPLICAS; i++) replicas.push(await startReplica(`r${i + 1}`, url, script, { MAX_CONCURRENT_RUNS: String(SLOTS) }));
    for (let round = 0; round < (quick ? 1 : 5); round++) {
      let t = performance.now();
      await runNow(replicas[0] as Replica, `sleep ${AGENT_MS}`);
      singles.push(performance.now() - t);
      t = performance.now();
      const ids = await Promise.all(Array.from({ length: RUNS }, (_, k) => runNow(replicas[k % REPLICAS] as Replica, `sleep ${AGENT_MS}`)));
      walls.push(performance.now() - t);
      const by = replicas.map((r) => ids.filter((id) => script.started.get(id)?.replica === r.name).length);
      spreads.push(by.join("/"));
    }
  } finally {
    await teardown(script, replicas);
  }
  return { walls, singles, spreads };
}

export async function replicas(ctx: BenchContext): Promise<BenchResult> {
  const name = "10. Many replicas on one Postgres";
  const ideal = (RUNS / (REPLICAS * SLOTS)) * AGENT_MS;
  const target = `events from replica A to a client on B p50 ≤ 20 ms; POST /runs → running p50 ≤ 30 ms; ${RUNS} one-second runs on ${REPLICAS} × ${SLOTS} slots ≤ 1.1× the ideal ${ms(ideal)}`;
  if (!existsSync(`${PG_BIN}/postgres`) || !existsSync(`${PG_BIN}/initdb`)) {
    return { name, target, met: null, summary: "not measured: Postgres 15 not installed (apt-get install postgresql)", details: [`\`${PG_BIN}\` is missing: install Postgres 15 (Debian: \`apt-get install postgresql\`) and run again.`] };
  }
  const cluster = await startPostgres();
  try {
    const p = await pair(await cluster.createDatabase(), ctx.quick);
    const s = await sideBySide(await cluster.createDatabase(), ctx.quick);
    const q = await shared(await cluster.createDatabase(), ctx.quick);
    const events = { p50: median(p.path.onB), p99: percentile(p.path.onB, 0.99) };
    const claimP50 = median(p.claim.running);
    const moved = median(s.pg) - median(s.sqlite);
    const ratio = median(q.walls) / ideal;
    ctx.log(`replicas: events A→B p50 ${ms(events.p50)} p99 ${ms(events.p99)}; claim p50 ${ms(claimP50)}; POST /run sqlite ${ms(median(s.sqlite))} pg ${ms(median(s.pg))}; ${RUNS} runs ${ms(median(q.walls))} (${ratio.toFixed(3)}×)`);
    const n = p.path.onB.length;
    const rounds = p.claim.running.length;
    return {
      name,
      target,
      met: events.p50 <= 20 && claimP50 <= 30 && ratio <= 1.1,
      summary: `events A→B p50 ${ms(events.p50)} (p99 ${ms(events.p99)}); claim p50 ${ms(claimP50)}; POST /run ${moved >= 0 ? "+" : ""}${ms(moved)} vs SQLite at p50; ${RUNS} runs ${ratio.toFixed(3)}× (${ms(median(q.walls))})`,
      details: [
        "### Events across replicas",
        "",
        "| from the agent handing an event to the server on A, until… | p50 | p99 | events |",
        "|---|---|---|---|",
        row("A's store has written it (appendEvents resolved: insert, NOTIFY, commit)", p.path.stored),
        row("B starts reading it (the announcement reached B)", p.path.heard),
        row("B has read it from the table", p.path.read),
        row("**a client following the run on B has parsed it** (the measure)", p.path.onB),
        row("a client following the run on A has parsed it (same replica, for reference)", p.path.onA),
        "",
        `${n} text events over ${ctx.quick ? "1 run" : "4 runs"} (after a warm-up run of 10), ${GAP_MS} ms apart, from a scripted agent on A; B's only slot is held by a blocking run, so every run is claimed by A${p.discarded > 0 ? ` (${p.discarded} run(s) that ran elsewhere discarded)` : ""}. Both clients connect (GET /runs/{id}/events) before the agent starts. Times are performance.now() in one process: the agent stamps each event just before onEvent; a wrapper around each replica's store stamps its writes and reads.`,
        "",
        "### POST /runs → running",
        "",
        "| | p50 | p99 | rounds |",
        "|---|---|---|---|",
        row("**two idle replicas: POST /runs sent → its running event parsed on the same replica** (the measure)", p.claim.running),
        row("… POST /runs answered 202 (queued)", p.claim.accepted),
        row("… the agent called (claimed, workspace made)", p.claim.agent),
        row("one Postgres replica alone: running event parsed", s.claim.pg.running),
        row("SQLite (starts at once, no claim): running event parsed", s.claim.sqlite.running),
        "",
        `${rounds} rounds after 10 warm-up rounds, alternating which of the two replicas (A: ${SLOTS} slots, B: 1) receives the POST; the client opens GET /runs/{id}/events on that replica once it has the 202, and reads it to the end. The receiving replica claimed its own run in ${p.claim.here} of ${rounds} rounds (the other hears of it through the queue announcement). The Postgres-alone and SQLite rows are ${s.claim.pg.running.length} interleaved rounds each.`,
        "",
        "### Per-run cost, Postgres vs SQLite",
        "",
        "| store | POST /run p50 | p99 |",
        "|---|---|---|",
        `| SQLite (DATA_DIR, a run with a free slot starts at once) | ${ms(median(s.sqlite))} | ${ms(percentile(s.sqlite, 0.99))} |`,
        `| Postgres (every run queued, then claimed) | ${ms(median(s.pg))} | ${ms(percentile(s.pg, 0.99))} |`,
        `| difference | ${moved >= 0 ? "+" : ""}${ms(moved)} | ${ms(percentile(s.pg, 0.99) - percentile(s.sqlite, 0.99))} |`,
        "",
        `One replica each, a no-op scripted agent, ${s.sqlite.length} interleaved rounds after 20 warm-up rounds.`,
        "",
        "### The shared queue",
        "",
        "| | median | rounds |",
        "|---|---|---|",
        `| ${RUNS} concurrent POST /run over ${REPLICAS} replicas, wall time | ${ms(median(q.walls))} | ${q.walls.map(ms).join(", ")} |`,
        `| one run alone (a wave's floor) | ${ms(median(q.singles))} | ${q.singles.map(ms).join(", ")} |`,
        `| runs per replica (r1/r2/r3), each round | | ${q.spreads.join(", ")} |`,
        "",
        `Ideal: ${RUNS / (REPLICAS * SLOTS)} waves × ${AGENT_MS / 1000} s = ${ms(ideal)} (${REPLICAS} replicas × MAX_CONCURRENT_RUNS=${SLOTS}); the best is ${RUNS / (REPLICAS * SLOTS)} × the single-run time (${ms((RUNS / (REPLICAS * SLOTS)) * median(q.singles))}). The ${RUNS} requests go round-robin to the replicas at once; each answers when its run has ended, wherever it ran. The agent awaits ${AGENT_MS} ms in-process.`,
        "",
        `All replicas run in this process (composeGraph, as the server builds itself, each with its own PgRunStore pool, REPLICA_ID, DATA_DIR and WORK_DIR; requests through the edge handler, no TCP) on a throwaway local Postgres 15 (fsync=off, a fresh database per measure); SANDBOX=off, LOG_LEVEL=info to nowhere.`,
      ],
    };
  } finally {
    await cluster.stop();
  }
}

// In-process replicas of the server on one run store, around a scripted agent that stamps its events: for bench/replicas.ts.
import { composeGraph, openStore, type Graph } from "../../src/compose.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { Redactor } from "../../src/lib/redact.ts";
import type { AgentInput, AgentOutcome } from "../../src/opencode/types.ts";
import type { RunEvent } from "../../src/runs/model.ts";
import type { RunStore } from "../../src/runs/store.ts";
import { FakeRunner } from "../../test/support/fake-runner.ts";
import { readEvents, type SseEvent } from "../../test/support/sse.ts";
import { tempDir } from "./common.ts";

/**
 * What every replica's agent does, chosen by the prompt: `noop`; `hold` (until release()); `sleep <ms>`;
 * `emit <n> <gap ms>` (waits for go(runId), then n text events `e0`…, stamping each just before it is handed on).
 */
export class Script {
  /** runId → when the agent was called, and on which replica. */
  readonly started = new Map<string, { at: number; replica: string }>();
  /** `${runId} e${i}` → performance.now() just before the agent handed that event to the server. */
  readonly handed = new Map<string, number>();
  private readonly gates = new Map<string, PromiseWithResolvers<void>>();
  private opened = false;

  private gate(key: string): PromiseWithResolvers<void> {
    let g = this.gates.get(key);
    if (!g) this.gates.set(key, (g = Promise.withResolvers<void>()));
    if (this.opened) g.resolve();
    return g;
  }

  /** Every gate open, now and later (before the replicas stop, whatever happened). */
  releaseAll(): void {
    this.opened = true;
    for (const g of this.gates.values()) g.resolve();
  }

  go(runId: string): void {
    this.gate(runId).resolve();
  }

  release(): void {
    this.gate("hold").resolve();
  }

  async act(replica: string, input: AgentInput): Promise<Partial<AgentOutcome>> {
    this.started.set(input.runId, { at: performance.now(), replica });
    const [verb, a, b] = input.prompt.trim().split(/\s+/);
    const aborted = new Promise<void>((resolve) => input.signal.addEventListener("abort", () => resolve(), { once: true }));
    if (verb === "hold") await Promise.race([this.gate("hold").promise, aborted]);
    else if (verb === "sleep") await Bun.sleep(Number(a));
    else if (verb === "emit") {
      await Promise.race([this.gate(input.runId).promise, aborted]);
      for (let i = 0; i < Number(a) && !input.signal.aborted; i++) {
        this.handed.set(`${input.runId} e${i}`, performance.now());
        input.onEvent({ type: "text", text: `e${i}` });
        await Bun.sleep(Number(b));
      }
    }
    return { output: "ok" };
  }
}

/** When this replica's store finished writing (appendEvents resolved) and read (events(): start, end) each text event. */
export interface Marks {
  stored: Map<string, number>;
  readFrom: Map<string, number>;
  read: Map<string, number>;
}

export const newMarks = (): Marks => ({ stored: new Map(), readFrom: new Map(), read: new Map() });

const markOf = (e: RunEvent) => (e.type === "text" ? `${e.run_id} ${e.text}` : null);

/** The store, with its event writes and reads timed into `marks` (everything else passes through). */
function timed(store: RunStore, marks: Marks): RunStore {
  const appendEvents = async (events: readonly RunEvent[]) => {
    await store.appendEvents(events);
    const at = performance.now();
    for (const key of events.map(markOf)) if (key) marks.stored.set(key, at);
  };
  const events = async (id: string, afterSeq: number) => {
    const from = performance.now();
    const out = await store.events(id, afterSeq);
    const at = performance.now();
    for (const key of out.map(markOf)) {
      if (key && !marks.read.has(key)) {
        marks.readFrom.set(key, from);
        marks.read.set(key, at);
      }
    }
    return out;
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "appendEvents") return appendEvents;
      if (prop === "events") return events;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

export interface Replica {
  name: string;
  graph: Graph;
  marks: Marks;
  /** A request through the server's edge handler, in-process; paths are relative to http://localhost. */
  request(path: string, init?: RequestInit): Promise<Response>;
}

/** A replica on Postgres at `databaseUrl` (null: SQLite in its own DATA_DIR), started (recovered, pumping). */
export async function startReplica(name: string, databaseUrl: string | null, script: Script, env: Record<string, string> = {}): Promise<Replica> {
  const config = loadConfig({
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: tempDir("ocs-bench-home-"),
    WORK_DIR: tempDir("ocs-bench-work-"),
    DATA_DIR: tempDir("ocs-bench-data-"),
    REPLICA_ID: name,
    OPENCODE_MODEL: "fake/default",
    GIT_BIN: "/nonexistent/git",
    MAX_QUEUED_RUNS: "1000",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl, DATABASE_CONNECT_TIMEOUT: "10s" } : {}),
    ...env,
  });
  const redactor = new Redactor(config.secrets);
  // As the server logs at LOG_LEVEL=info, into nowhere (the benches' in-process servers do the same).
  const logger = createLogger({ level: "info", redactor, sink: () => {} });
  const marks = newMarks();
  const store = timed(await openStore(config, logger), marks);
  const runner = new FakeRunner((input) => script.act(name, input));
  const graph = composeGraph(config, { logger, redactor, runner, opencodeVersion: () => "bench", sandbox: "off", network: "open", store });
  await graph.start();
  return { name, graph, marks, request: (p, init) => graph.edge(new Request(`http://localhost${p}`, init)) };
}

export const text = (body: string): RequestInit => ({ method: "POST", headers: { "content-type": "text/plain" }, body });

/** POST /runs: the new run's id. */
export async function createRun(r: Replica, prompt: string): Promise<string> {
  const res = await r.request("/runs", text(prompt));
  const body = (await res.json()) as { id?: string };
  if (res.status !== 202 || typeof body.id !== "string") throw new Error(`POST /runs on ${r.name} answered ${res.status}`);
  return body.id;
}

/** POST /run (synchronous): the run's id once it has ended. */
export async function runNow(r: Replica, prompt: string): Promise<string> {
  const res = await r.request("/run", text(prompt));
  const body = (await res.json()) as { run_id?: string };
  if (res.status !== 200 || typeof body.run_id !== "string") throw new Error(`POST /run on ${r.name} answered ${res.status}`);
  return body.run_id;
}

export interface Seen {
  event: SseEvent;
  /** performance.now() when the client had parsed it. */
  at: number;
}

/** GET /runs/{id}/events on `r` to the end of the run; `onEvent` hears each event as it is parsed. */
export async function follow(r: Replica, id: string, onEvent: (s: Seen) => void = () => {}): Promise<Seen[]> {
  const res = await r.request(`/runs/${id}/events`);
  if (res.status !== 200) throw new Error(`GET /runs/${id}/events on ${r.name} answered ${res.status}`);
  const seen: Seen[] = [];
  await readEvents(res, (event) => {
    const s = { event, at: performance.now() };
    seen.push(s);
    onEvent(s);
    return false;
  });
  return seen;
}

export async function stopAll(replicas: readonly Replica[]): Promise<void> {
  for (const r of replicas) await r.graph.stop();
}

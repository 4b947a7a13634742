// The one place run events are numbered, redacted, stored (in order, batched, buffered through store faults) and published.
import type { Redactor } from "../lib/redact.ts";
import type { RunEvent, RunEventBody } from "./model.ts";
import type { EventMaker, RunStore } from "./store.ts";

export type EventListener = (event: RunEvent) => void;

export interface Subscription {
  /** Stored events after the requested one, read after the listener was registered: none missed, none twice. */
  events: RunEvent[];
  unsubscribe(): void;
}

/** Events waiting for a store that cannot be written (their JSON size); past this, appending fails and the run ends (see README). */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** A listener and the last number it got: events read again (announcements, catch-up) reach it once. */
interface Listening {
  fn: EventListener;
  last: number;
}

/**
 * How long a run's events may wait to be stored together when nobody follows the run and the store is
 * this server's own: a short run's events then go in the commit that ends it (one commit where there
 * were one per event). A follower, or a store other replicas read, gets every event at once.
 */
export const BATCH_MS = 5;

/**
 * A batch is written at once, without waiting out BATCH_MS, when it holds this much JSON; a flush writes at
 * most this much at a time. An agent flooding text events kept the timer from firing: 6,000 events (6 MiB)
 * gathered, then went in one synchronous write whose garbage grew RSS by 8 MiB.
 */
export const BATCH_BYTES = 256 * 1024;

/** A run's events not yet stored, written by one flush at a time so they reach the store in their order. */
interface Writer {
  pending: RunEvent[];
  /** JSON size of what is pending. */
  bytes: number;
  flushing: Promise<void> | null;
  /** A flush waiting out BATCH_MS. */
  timer: ReturnType<typeof setTimeout> | null;
  onFault: (err: unknown) => void;
}

export class EventLog {
  /** Each run's last number handed out here (runs this process writes events for). */
  private readonly seqs = new Map<string, number>();
  private readonly listeners = new Map<string, Set<Listening>>();
  private readonly writers = new Map<string, Writer>();
  /** Bytes of events handed to writers and not yet stored. */
  private buffered = 0;
  private readonly sizes = new WeakMap<RunEvent, number>();
  /** Whether the store is known to be failing (StoreHealth): only then is what waits bounded. */
  failing: () => boolean = () => false;

  constructor(
    private readonly store: RunStore,
    private readonly redactor: Redactor,
  ) {}

  /** A run just created: its events start at 1 (no need to ask the store). */
  begin(runId: string): void {
    this.seqs.set(runId, 0);
  }

  /** Numbers and redacts bodies into events, for the store calls that write them with other changes. */
  make(runId: string, bodies: readonly RunEventBody[]): RunEvent[] {
    const seq = this.seqs.get(runId);
    if (seq === undefined) throw new Error(`no event number known for run ${runId}`);
    return this.numbered(runId, seq, bodies);
  }

  /** The same, numbered on from what the store holds (a run another process created or touched). */
  maker(bodies: readonly RunEventBody[]): EventMaker {
    return (runId, lastSeq) => this.numbered(runId, lastSeq, bodies);
  }

  private numbered(runId: string, after: number, bodies: readonly RunEventBody[]): RunEvent[] {
    let seq = after;
    const time = new Date().toISOString();
    const events = bodies.map((body) => ({ ...this.redactor.redactDeep(body), run_id: runId, seq: ++seq, time }) as RunEvent);
    this.seqs.set(runId, seq);
    return events;
  }

  /** Bytes of events waiting to be stored (in flight, or held by a store fault), over all runs. */
  get backlog(): number {
    return this.buffered;
  }

  /**
   * Numbers an event and hands it to the run's writer, which stores then publishes it. False when the buffer
   * is full (the store has been failing for a while): the caller ends the run.
   */
  append(runId: string, body: RunEventBody, onFault: (err: unknown) => void): boolean {
    // Only events held back by a fault count against the bound: a burst a working store is still taking does not.
    if (this.buffered >= MAX_BUFFERED_BYTES && this.failing()) return false;
    const [event] = this.make(runId, [body]) as [RunEvent];
    let w = this.writers.get(runId);
    if (!w) this.writers.set(runId, (w = { pending: [], bytes: 0, flushing: null, timer: null, onFault }));
    w.onFault = onFault;
    w.pending.push(event);
    const size = JSON.stringify(event).length;
    this.sizes.set(event, size);
    this.buffered += size;
    w.bytes += size;
    if (w.flushing) return true;
    if (this.store.shared || this.listeners.has(runId) || w.bytes >= BATCH_BYTES) this.startFlush(runId, w);
    else w.timer ??= setTimeout(() => this.startFlush(runId, w), BATCH_MS);
    return true;
  }

  private startFlush(runId: string, w: Writer): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    w.flushing ??= this.flush(runId, w, w.onFault);
  }

  /** Writes what is pending in batches; on a fault it stops and keeps them (retry() goes on once the store is back). */
  private async flush(runId: string, w: Writer, onFault: (err: unknown) => void): Promise<void> {
    while (w.pending.length > 0) {
      const batch = this.nextBatch(w);
      try {
        await this.store.appendEvents(batch);
      } catch (err) {
        w.flushing = null;
        onFault(err);
        return;
      }
      w.pending.splice(0, batch.length);
      this.unbuffer(w, batch);
      this.publish(batch);
    }
    w.flushing = null;
  }

  /**
   * Stores what waited while the store could not be written; rejects when it still cannot — unless `drop`:
   * then what a store that answers probes still refuses (it can never fit) is dropped, and `dropped` says so.
   */
  async retry(drop = false): Promise<void> {
    for (const [runId, w] of this.writers) {
      if (w.pending.length === 0 || w.flushing) continue;
      if (w.timer) clearTimeout(w.timer);
      w.timer = null;
      let failed: unknown = null;
      w.flushing = this.flush(runId, w, (err) => (failed = err));
      await w.flushing;
      if (failed === null) continue;
      if (!drop) throw failed;
      const lost = w.pending.splice(0);
      this.unbuffer(w, lost);
      this.dropped(runId, lost.length, failed);
    }
  }

  /** Told when held events are given up (see retry). */
  dropped: (runId: string, events: number, err: unknown) => void = () => {};

  /** Resolves once the run's pending events are stored (or the store failed meanwhile: they stay pending). */
  async settled(runId: string): Promise<void> {
    await this.writers.get(runId)?.flushing;
  }

  /** Events of the run not stored yet (waiting out BATCH_MS, or held by a store fault): its end is written with them. */
  takePending(runId: string): RunEvent[] {
    const w = this.writers.get(runId);
    if (!w || w.flushing) return [];
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    const taken = w.pending.splice(0);
    this.unbuffer(w, taken);
    return taken;
  }

  /** The first pending events, up to BATCH_BYTES of them (at least one). */
  private nextBatch(w: Writer): RunEvent[] {
    let bytes = 0;
    let n = 0;
    for (const e of w.pending) {
      const size = this.sizes.get(e) ?? 0;
      if (n > 0 && bytes + size > BATCH_BYTES) break;
      bytes += size;
      n++;
    }
    return w.pending.slice(0, n);
  }

  private unbuffer(w: Writer, events: readonly RunEvent[]): void {
    for (const e of events) {
      const size = this.sizes.get(e) ?? 0;
      this.buffered -= size;
      w.bytes -= size;
    }
  }

  /** For events the store has just written: each listener here gets each of them once, in order. */
  publish(events: readonly RunEvent[]): void {
    for (const event of events) {
      for (const l of this.listeners.get(event.run_id) ?? []) {
        if (event.seq <= l.last) continue;
        l.last = event.seq;
        l.fn(event);
      }
    }
  }

  /** Another replica stored events up to `seq`: read them for whoever follows the run here. */
  async remote(runId: string, seq: number): Promise<void> {
    const set = this.listeners.get(runId);
    if (!set || set.size === 0) return;
    const from = Math.min(...[...set].map((l) => l.last));
    if (seq <= from) return;
    this.publish(await this.store.events(runId, from));
  }

  /** After a lost announcement connection: every run followed here is read again from the store. */
  async catchUp(): Promise<void> {
    for (const runId of [...this.listeners.keys()]) await this.remote(runId, Number.MAX_SAFE_INTEGER).catch(() => undefined);
  }

  /**
   * Done with a run this process only queued: its number goes, unless a claim here has numbered it on since
   * (then it is running here and keeps it).
   */
  release(runId: string, seq: number): void {
    if (this.seqs.get(runId) === seq) this.seqs.delete(runId);
  }

  /** The numbers handed out were rolled back: ask the store again next time. */
  rewind(runId: string): void {
    this.seqs.delete(runId);
  }

  /** Done writing a run: its number is in the store, its listeners have had its result. */
  forget(runId: string): void {
    this.seqs.delete(runId);
    if (this.writers.get(runId)?.pending.length === 0) this.writers.delete(runId);
  }

  /** The events to come (after `after`, default: any), without the stored ones; returns the way to stop listening. */
  listen(runId: string, fn: EventListener, after = 0): () => void {
    return this.register(runId, { fn, last: after });
  }

  private register(runId: string, entry: Listening): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(entry);
    // Someone follows the run now: what waits out BATCH_MS goes at once.
    const w = this.writers.get(runId);
    if (w?.timer) this.startFlush(runId, w);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.listeners.get(runId) === set) this.listeners.delete(runId);
    };
  }

  /** Stored events after `afterSeq` and, through the listener, the ones to come (a number seen twice is the caller's to drop). */
  async subscribe(runId: string, afterSeq: number, fn: EventListener): Promise<Subscription> {
    const entry: Listening = { fn, last: afterSeq };
    const unsubscribe = this.register(runId, entry);
    try {
      let events = await this.store.events(runId, afterSeq);
      // A Last-Event-ID beyond what the run has so far (a stream of a new run, a guess) means "what comes next":
      // the listener takes events from the run's real last number on, and what came in between is read too.
      if (events.length === 0 && afterSeq > 0) {
        const last = await this.store.lastSeq(runId);
        if (last < afterSeq) {
          entry.last = Math.min(entry.last, last);
          events = await this.store.events(runId, last);
        }
      }
      return { events, unsubscribe };
    } catch (err) {
      unsubscribe();
      throw err;
    }
  }
}

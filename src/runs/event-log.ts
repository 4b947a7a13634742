// The one place run events are numbered, redacted, stored and published; everything else reads or subscribes.
import type { Redactor } from "../lib/redact.ts";
import type { RunEvent, RunEventBody } from "./model.ts";
import type { RunStore } from "./store.ts";

export type EventListener = (event: RunEvent) => void;

export interface Subscription {
  /** Stored events after the requested one, read after the listener was registered: none missed, none twice. */
  events: RunEvent[];
  unsubscribe(): void;
}

export class EventLog {
  /** Each run's last number, once known (the store knows it for runs started by an earlier process). */
  private readonly seqs = new Map<string, number>();
  private readonly listeners = new Map<string, Set<EventListener>>();

  constructor(
    private readonly store: RunStore,
    private readonly redactor: Redactor,
  ) {}

  /** A run just created: its events start at 1 (no need to ask the store). */
  begin(runId: string): void {
    this.seqs.set(runId, 0);
  }

  /** Numbers and redacts bodies into events, without storing them (for the store calls that write them with other changes). */
  make(runId: string, bodies: readonly RunEventBody[]): RunEvent[] {
    let seq = this.seqs.get(runId) ?? this.store.lastSeq(runId);
    const time = new Date().toISOString();
    const events = bodies.map((body) => ({ ...this.redactor.redactDeep(body), run_id: runId, seq: ++seq, time }) as RunEvent);
    this.seqs.set(runId, seq);
    return events;
  }

  /** Stores then publishes; a StoreError reaches the caller, which ends the run. */
  append(runId: string, body: RunEventBody): RunEvent {
    const [event] = this.make(runId, [body]) as [RunEvent];
    this.store.appendEvents([event]);
    this.publish([event]);
    return event;
  }

  /** For events the store has just written by another call (enqueue, finish). */
  publish(events: readonly RunEvent[]): void {
    for (const event of events) {
      for (const listener of this.listeners.get(event.run_id) ?? []) listener(event);
    }
  }

  /** The numbers handed out since the store last wrote were rolled back: ask the store again next time. */
  rewind(runId: string): void {
    this.seqs.delete(runId);
  }

  /** Done with a run: its number is in the store, its listeners have had its result. */
  forget(runId: string): void {
    this.seqs.delete(runId);
    this.listeners.delete(runId);
  }

  /** The events to come, without the stored ones; returns the way to stop listening. */
  listen(runId: string, listener: EventListener): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(runId) === set) this.listeners.delete(runId);
    };
  }

  subscribe(runId: string, afterSeq: number, listener: EventListener): Subscription {
    const unsubscribe = this.listen(runId, listener);
    try {
      return { events: this.store.events(runId, afterSeq), unsubscribe };
    } catch (err) {
      unsubscribe();
      throw err;
    }
  }
}

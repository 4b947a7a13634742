// A run page's live state from its event stream, updated in batches so thousands of replayed events cost a few renders.
import { useEffect, useRef, useState } from "preact/hooks";
import { followEvents } from "./sse.ts";
import type { Outcome, RunEvent, Usage } from "./types.ts";

const FLUSH_MS = 50;

export interface StreamState {
  /** Every event seen, in order; the array grows in place and `count` says how far it has been rendered. */
  events: RunEvent[];
  count: number;
  status: string | null;
  usage: { total: Usage; steps: number } | null;
  result: Outcome | null;
  reconnecting: boolean;
  error: string | null;
}

/**
 * Follows /runs/<id>/events until its result. `onEndWithoutResult` says whether a stream that closed
 * early belongs to a run that is over (true: stop) or should be resumed.
 */
export function useRunStream(id: string, onEndWithoutResult: () => Promise<boolean>): StreamState {
  const [state, setState] = useState<StreamState>(() => ({ events: [], count: 0, status: null, usage: null, result: null, reconnecting: false, error: null }));
  const onEnd = useRef(onEndWithoutResult);
  onEnd.current = onEndWithoutResult;

  useEffect(() => {
    const ctrl = new AbortController();
    let pending: RunEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const batch = pending;
      pending = [];
      // Every state shares the first one's array (updates spread it), so appending here reaches them all.
      for (const e of batch) state.events.push(e);
      setState((s) => {
        let { status, usage, result } = s;
        for (const e of batch) {
          if (e.type === "status") status = e.status;
          else if (e.type === "usage") usage = { total: e.total, steps: e.steps };
          else if (e.type === "result") ({ status, answer: result } = e);
        }
        return { ...s, count: s.events.length, status, usage, result };
      });
    };
    void followEvents({
      path: `/runs/${encodeURIComponent(id)}/events`,
      signal: ctrl.signal,
      onEvent: (e) => {
        pending.push(e);
        timer ??= setTimeout(flush, FLUSH_MS);
      },
      onReconnecting: (reconnecting) => setState((s) => (s.reconnecting === reconnecting ? s : { ...s, reconnecting })),
      onEndWithoutResult: () => onEnd.current(),
      onFatal: (e) => setState((s) => ({ ...s, reconnecting: false, error: e.message })),
    });
    return () => {
      ctrl.abort();
      clearTimeout(timer);
    };
  }, [id]);
  return state;
}

// /ui/runs/<id>: the run's facts, live status and counters, its events, result, diff and follow-up box.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, errorText, isAbort, requestJson } from "../api.ts";
import { useRunStream } from "../run-stream.ts";
import { asRunView, isFinal, type RunView } from "../types.ts";
import { ErrorAlert, StatusBadge, useNow } from "./common.tsx";
import { DiffView } from "./diff-view.tsx";
import { EventList } from "./event-list.tsx";
import { FollowUp } from "./follow-up.tsx";
import { ResultPanel } from "./result-panel.tsx";
import { Counters, RunMeta } from "./run-meta.tsx";

const RETRY_MS = 2000;

/** GET /runs/<id>, retried while it fails for reasons other than a missing run. */
function useRunView(id: string) {
  const [view, setView] = useState<RunView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const missing = useRef(false);
  const [ctrl] = useState(() => new AbortController());
  const path = `/runs/${encodeURIComponent(id)}`;

  const load = useCallback(async (): Promise<RunView | null> => {
    try {
      const v = await requestJson(path, asRunView, { signal: ctrl.signal, cache: "no-store" });
      setView(v);
      setError(null);
      return v;
    } catch (e) {
      if (isAbort(e)) return null;
      missing.current = e instanceof ApiError && e.status === 404;
      setError(missing.current ? `No run ${id}` : errorText(e));
      return null;
    }
  }, [path, id, ctrl]);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const attempt = async () => {
      if (!(await load()) && !missing.current && !ctrl.signal.aborted) timer = setTimeout(attempt, RETRY_MS);
    };
    void attempt();
    return () => {
      ctrl.abort();
      clearTimeout(timer);
    };
  }, [load, ctrl]);

  return { view, setView, error, setError, load, missing, path };
}

function CancelButton(props: { path: string; onDone: (v: RunView | null) => void; onError: (message: string) => void }) {
  const [busy, setBusy] = useState(false);
  const cancel = async () => {
    setBusy(true);
    try {
      props.onDone(await requestJson(props.path, asRunView, { method: "DELETE" }));
    } catch (e) {
      if (e instanceof ApiError && e.code === "run_finished") props.onDone(null);
      else props.onError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <button type="button" class="danger" data-testid="cancel-run" disabled={busy} onClick={cancel}>
      {busy ? "Cancelling…" : "Cancel run"}
    </button>
  );
}

export function RunPage(props: { id: string }) {
  const { id } = props;
  const run = useRunView(id);
  const { view } = run;
  const stream = useRunStream(id, async () => {
    const v = await run.load();
    return v ? isFinal(v.status) : run.missing.current;
  });

  // A new status means new facts (start time; at the end: end time, diff, forge links, stored before the
  // result event went out); a queued run's place in the queue only shows by asking again.
  const hasResult = stream.result !== null;
  useEffect(() => {
    if (stream.status !== null) void run.load();
  }, [stream.status, hasResult, run.load]);
  const queued = (stream.status ?? view?.status) === "queued";
  useEffect(() => {
    if (!queued) return;
    const timer = setInterval(run.load, RETRY_MS);
    return () => clearInterval(timer);
  }, [queued, run.load]);

  const result = stream.result ?? view?.result ?? null;
  // The stream's result is final; before it, a view that says ended beats a stream that has not caught up.
  const status = stream.result ? stream.status : view && isFinal(view.status) ? view.status : (stream.status ?? view?.status ?? null);
  const ended = status !== null && isFinal(status);
  const now = useNow(status === "running");
  // The result's usage is the final sum; before it, the last usage event's running total.
  const usage = result?.usage ?? stream.usage?.total ?? null;

  useEffect(() => {
    document.title = `${view?.title ?? `Run ${id.slice(0, 8)}`} · opencode-server`;
  }, [view?.title, id]);

  return (
    <article class="run-page" data-testid="run-page" data-run-id={id} data-status={status ?? "loading"}>
      <div class="panel">
        <h1 class="run-heading">{view ? (view.title ?? `(${view.prompt_chars} chars)`) : `Run ${id}`}</h1>
        <p class="muted run-id">
          Run <code>{id}</code>
        </p>
        <div class="row" aria-live="polite">
          {status && <StatusBadge status={status} testid="run-status" />}
          {status && !ended && view && <CancelButton path={run.path} onDone={(v) => (v ? run.setView(v) : void run.load())} onError={run.setError} />}
          {stream.reconnecting && (
            <span class="reconnecting" data-testid="reconnecting">
              Reconnecting…
            </span>
          )}
        </div>
        <ErrorAlert message={run.error ?? stream.error} />
        {view && <RunMeta view={view} now={now} />}
        <div aria-live="polite">
          <Counters usage={usage} steps={stream.usage?.steps ?? null} />
        </div>
      </div>
      <div class="panel">
        <EventList events={stream.events} count={stream.count} forge={view?.forge_links ?? null} />
      </div>
      {result && <ResultPanel result={result} forge={view?.forge_links ?? null} />}
      {ended && (view?.diff || result?.patch) && <DiffView runId={id} stored={view?.diff === true} patch={result?.patch ? { text: result.patch, truncated: result.patch_truncated === true } : null} />}
      {ended && view && <FollowUp runId={id} />}
    </article>
  );
}

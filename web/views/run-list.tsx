// /ui: the new-run form, then the runs (filtered, paged by cursor), re-fetched every 2 s while the tab is visible.
import { useEffect, useState } from "preact/hooks";
import { errorText, isAbort, requestJson } from "../api.ts";
import { replaceQuery } from "../router.ts";
import { asRunsPage, type RunsPage, type RunStatus } from "../types.ts";
import { ErrorAlert, useNow } from "./common.tsx";
import { NewRun } from "./new-run.tsx";
import { RunTable } from "./run-table.tsx";
import { parseStatuses, StatusFilter } from "./status-filter.tsx";

const PAGE_SIZE = 50;
const REFRESH_MS = 2000;

function pageUrl(statuses: RunStatus[], cursor: string | null): string {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) q.set("cursor", cursor);
  if (statuses.length) q.set("status", statuses.join(","));
  // As the API documents it (status=running,queued); URLSearchParams would write %2C.
  return `/runs?${q.toString().replace(/%2C/gi, ",")}`;
}

/** Fetches `url` now, then every REFRESH_MS while the tab is visible, never two at once. */
function useLivePage(url: string): { page: RunsPage | null; error: string | null } {
  // Tagged with its URL so a page of the previous filter or cursor is never shown (or paged from) as this one.
  const [loaded, setLoaded] = useState<{ url: string; page: RunsPage } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctrl = new AbortController();
    let busy = false;
    const load = async () => {
      if (busy || document.visibilityState !== "visible") return;
      busy = true;
      try {
        setLoaded({ url, page: await requestJson(url, asRunsPage, { signal: ctrl.signal, cache: "no-store" }) });
        setError(null);
      } catch (e) {
        if (!isAbort(e)) setError(errorText(e));
      } finally {
        busy = false;
      }
    };
    void load();
    const timer = setInterval(load, REFRESH_MS);
    document.addEventListener("visibilitychange", load);
    return () => {
      ctrl.abort();
      clearInterval(timer);
      document.removeEventListener("visibilitychange", load);
    };
  }, [url]);
  return { page: loaded?.url === url ? loaded.page : null, error };
}

export function RunList(props: { query: URLSearchParams; hash: string; visit: number }) {
  const statuses = parseStatuses(props.query.get("status"));
  const filter = statuses.join(",");
  // Cursors of the pages before this one, for "Newer"; a new filter starts again at the newest.
  const [paging, setPaging] = useState<{ filter: string; stack: string[] }>({ filter, stack: [] });
  const stack = paging.filter === filter ? paging.stack : [];
  const cursor = stack[stack.length - 1] ?? null;
  const { page, error } = useLivePage(pageUrl(statuses, cursor));
  const runs = page?.runs ?? [];
  const now = useNow(runs.some((r) => r.status === "running"));

  useEffect(() => {
    document.title = "Runs · opencode-server";
  }, []);

  const setFilter = (next: RunStatus[]) => {
    const q = new URLSearchParams(props.query);
    if (next.length) q.set("status", next.join(","));
    else q.delete("status");
    replaceQuery(q);
  };
  const older = () => page?.next_cursor && setPaging({ filter, stack: [...stack, page.next_cursor] });
  const newer = () => setPaging({ filter, stack: stack.slice(0, -1) });

  return (
    <>
      <NewRun focusVisit={props.hash === "#new-run" ? props.visit : null} />
      <section class="panel" aria-labelledby="runs-heading">
        <h1 id="runs-heading">Runs</h1>
        <StatusFilter selected={statuses} onChange={setFilter} />
        <ErrorAlert message={error} />
        <div data-testid="run-list" class="run-list">
          {page && runs.length === 0 && (
            <p class="empty" data-testid="empty-list">
              {statuses.length ? "No runs yet with these statuses" : "No runs yet"}
            </p>
          )}
          {runs.length > 0 && <RunTable runs={runs} now={now} />}
          {!page && !error && <p class="muted">Loading…</p>}
        </div>
        {(stack.length > 0 || page?.next_cursor) && (
          <nav class="pager" aria-label="Pages">
            <button type="button" data-testid="newer-page" disabled={stack.length === 0} onClick={newer}>
              ← Newer
            </button>
            <button type="button" data-testid="older-page" disabled={!page?.next_cursor} onClick={older}>
              Older →
            </button>
          </nav>
        )}
      </section>
    </>
  );
}

// Client-side routes under /ui: history.pushState on plain link clicks, popstate for back/forward.
import { useEffect, useState } from "preact/hooks";

export type Route = { page: "list"; query: URLSearchParams; hash: string; visit: number } | { page: "run"; id: string; visit: number } | { page: "missing"; visit: number };

let visit = 0;
const listeners = new Set<() => void>();

function current(): Route {
  visit += 1;
  const { pathname, search, hash } = window.location;
  if (pathname === "/ui" || pathname === "/ui/") return { page: "list", query: new URLSearchParams(search), hash, visit };
  const run = /^\/ui\/runs\/([^/]+)\/?$/.exec(pathname);
  if (run?.[1]) return { page: "run", id: decodeURIComponent(run[1]), visit };
  return { page: "missing", visit };
}

const notify = () => {
  for (const l of [...listeners]) l();
};
window.addEventListener("popstate", notify);

export function navigate(url: string): void {
  window.history.pushState(null, "", url);
  notify();
  window.scrollTo(0, 0);
}

/** Rewrites the current URL's query without a history entry (a filter change: reload keeps it, Back skips it). */
export function replaceQuery(query: URLSearchParams): void {
  // Commas stay readable (?status=running,queued): URLSearchParams would write %2C.
  const search = query.toString().replace(/%2C/gi, ",");
  window.history.replaceState(null, "", `${window.location.pathname}${search ? `?${search}` : ""}`);
  notify();
}

export const runPath = (id: string) => `/ui/runs/${encodeURIComponent(id)}`;

/** onClick for in-app links: plain left clicks navigate here; modified clicks open tabs as usual. */
export function followLink(e: MouseEvent): void {
  const a = e.currentTarget;
  if (!(a instanceof HTMLAnchorElement) || e.defaultPrevented || e.button !== 0) return;
  if (e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || (a.target && a.target !== "_self")) return;
  e.preventDefault();
  navigate(a.getAttribute("href") ?? "/ui");
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return route;
}

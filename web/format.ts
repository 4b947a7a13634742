// How times, durations, money and counts read on the page.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export function formatDuration(ms: number): string {
  if (ms < MINUTE) return `${(Math.max(0, ms) / SECOND).toFixed(1)} s`;
  if (ms < HOUR) return `${Math.floor(ms / MINUTE)} min ${Math.floor((ms % MINUTE) / SECOND)} s`;
  return `${Math.floor(ms / HOUR)} h ${Math.floor((ms % HOUR) / MINUTE)} min`;
}

/** started → finished, or → now while it runs; null before it started. */
export function runDuration(run: { started_at: string | null; finished_at: string | null }, now: number): string | null {
  if (run.started_at === null) return null;
  const end = run.finished_at === null ? now : Date.parse(run.finished_at);
  return formatDuration(end - Date.parse(run.started_at));
}

export function formatRelative(iso: string, now: number): string {
  const ago = now - Date.parse(iso);
  if (Number.isNaN(ago)) return iso;
  if (ago < 45 * SECOND) return "just now";
  if (ago < HOUR) return `${Math.max(1, Math.round(ago / MINUTE))} min ago`;
  if (ago < DAY) return `${Math.round(ago / HOUR)} h ago`;
  const days = Math.round(ago / DAY);
  return days === 1 ? "1 day ago" : `${days} days ago`;
}

export function formatTime(iso: string | null): string {
  if (iso === null) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export const formatCost = (usd: number | null | undefined) => (typeof usd === "number" ? `$${usd.toFixed(4)}` : "—");

export const formatCount = (n: number | null | undefined) => (typeof n === "number" ? n.toLocaleString("en-US") : "—");

export const shortSha = (sha: string | null | undefined) => (sha ? sha.slice(0, 7) : "—");

export const statusLabel = (status: string) => status.replace(/_/g, " ");

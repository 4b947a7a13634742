// Go-style durations: parse what Go users put in env files ("300s", "1m30s") and print what Go's time.Duration prints.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/gy;

/**
 * Parses a Go duration ("300s", "5m", "1m30s", "1.5h", "250ms") into milliseconds.
 * A bare non-negative number is read as seconds, because that is what people write in env files.
 * `d` (days) is accepted beyond Go's units for retention-style settings. Returns null when invalid.
 */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === "") return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let m = PART.exec(s); m; m = PART.exec(s)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    consumed = PART.lastIndex;
  }
  if (consumed !== s.length) return null;
  return Number.isFinite(total) ? total : null;
}

function trimFraction(value: number, digits: number): string {
  const fixed = value.toFixed(digits);
  return fixed.includes(".") ? fixed.replace(/0+$/, "").replace(/\.$/, "") : fixed;
}

/** Formats milliseconds the way Go's time.Duration.String() does, at millisecond precision ("2.5s", "1m30s", "450ms"). */
export function formatDuration(ms: number): string {
  if (!(ms > 0)) return "0s";
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  const rounded = Math.round(ms);
  if (rounded < 1000) return `${rounded}ms`;
  const hours = Math.floor(rounded / 3_600_000);
  const minutes = Math.floor((rounded % 3_600_000) / 60_000);
  const seconds = trimFraction((rounded % 60_000) / 1000, 3);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

// How long to wait before retrying a failed webhook delivery: exponential, capped, with jitter so retries from many runs spread out.

/**
 * Delay before retry number `attempt` (1 = after the first failure): base · 2^(attempt-1), capped at `capMs`, with
 * "equal jitter" — half of it fixed, so a retry never comes almost at once, half random, so receivers that came back
 * up are not hit by every pending delivery in the same instant.
 */
export function retryDelayMs(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempt));
  // 2 ** n overflows to Infinity for large n, which Math.min then caps.
  const ceiling = Math.max(0, Math.min(capMs, baseMs * 2 ** (n - 1)));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}

/** The longest total wait across `maxAttempts` attempts (maxAttempts - 1 retries, each at its full jittered ceiling). */
export function scheduleSummary(maxAttempts: number, baseMs: number, capMs: number): number {
  let total = 0;
  for (let attempt = 1; attempt < maxAttempts; attempt++) total += retryDelayMs(attempt, baseMs, capMs, () => 1);
  return total;
}

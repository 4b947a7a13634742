// Counts shutdown signals the way a person means them: a repeat within SAME_SIGNAL_MS is the same press.

/**
 * Ctrl-C under `bun run start` reaches the server twice within a millisecond (measured): once from
 * the terminal's process group, once forwarded by `bun run`. A signal this soon after the first is
 * that same press, not a second one.
 */
export const SAME_SIGNAL_MS = 500;

export class SignalCounter {
  private count = 0;
  private firstAt = 0;

  /** 1 for the first signal, 2+ for a later one, 0 for a duplicate of the first (ignore it). */
  next(now = Date.now()): number {
    if (this.count > 0 && now - this.firstAt < SAME_SIGNAL_MS) return 0;
    if (this.count === 0) this.firstAt = now;
    return ++this.count;
  }

  get seen(): number {
    return this.count;
  }
}

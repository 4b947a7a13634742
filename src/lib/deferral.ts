// Work put off for a moment (a run's bookkeeping after its answer) — done at once when someone needs it.
export class Deferral {
  private readonly waiting = new Set<() => void>();

  /** `ms` ≤ 0: the event loop's next turn. */
  constructor(private readonly ms: number) {}

  /** Resolves after `ms`, or as soon as hurry() is called; `now`: on the next turn. */
  wait(now = false): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    if (now || this.ms <= 0) {
      setImmediate(resolve);
      return promise;
    }
    const done = () => {
      clearTimeout(timer);
      this.waiting.delete(done);
      resolve();
    };
    const timer = setTimeout(done, this.ms);
    this.waiting.add(done);
    return promise;
  }

  /** Everything waiting goes now. */
  hurry(): void {
    for (const done of [...this.waiting]) done();
  }
}

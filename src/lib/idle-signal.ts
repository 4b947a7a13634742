// Lets shutdown wait, with a deadline, until whatever was in flight is done.
export class IdleSignal {
  private waiters: (() => void)[] = [];

  /** Resolves true once `wake()` is called (or at once when already idle), or false after `timeoutMs`. */
  wait(idle: boolean, timeoutMs: number): Promise<boolean> {
    if (idle) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
    });
  }

  wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

// Runs an async task one pass at a time: a call while a pass is under way asks for exactly one more pass after it.
export class SerialTask {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly task: () => Promise<void>) {}

  run(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.task().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.run();
      }
    });
  }

  /** Resolves once no pass is under way (nor asked for). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }
}

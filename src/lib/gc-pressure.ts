// Forces a full garbage collection after every few MiB read from agents' pipes.
/**
 * JSC collects by heap growth, and the buffers Bun reads a pipe into barely count towards it:
 * an agent printing 100 MB grew the server's RSS by ~110 MiB before the collector ran. Read
 * volume is the honest trigger; a full collection of this server's heap takes a few ms.
 */
export class GcPressure {
  private since = 0;
  collections = 0;

  constructor(
    private readonly everyBytes: number,
    private readonly collect: () => void = collectAndShrink,
  ) {}

  /**
   * A run's reading is over: collects if this run read enough (`readByRun`) — and enough was read since the
   * last collection — to leave garbage worth returning (its answer is about to be copied into the store and
   * the response). A small run costs nothing: what many small runs leave is collected by `add`'s threshold
   * (and by the engine), never at the end of whichever small run happened to come after the others.
   */
  settle(readByRun: number): void {
    const eighth = this.everyBytes / 8;
    if (readByRun >= eighth && this.since >= eighth) this.run();
  }

  /** Counts `bytes` just read; collects when the threshold is crossed. */
  add(bytes: number): void {
    this.since += bytes;
    if (this.since >= this.everyBytes) this.run();
  }

  private run(): void {
    this.since = 0;
    this.collections++;
    this.collect();
  }
}

/** A full collection, then the freed pages handed back to the system: what a flood of pipe chunks left is garbage by now. */
function collectAndShrink(): void {
  Bun.gc(true);
  Bun.shrink();
}

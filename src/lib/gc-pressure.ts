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
    private readonly collect: () => void = () => Bun.gc(true),
  ) {}

  /** Counts `bytes` just read; collects when the threshold is crossed. */
  add(bytes: number): void {
    this.since += bytes;
    if (this.since < this.everyBytes) return;
    this.since = 0;
    this.collections++;
    this.collect();
  }
}

// Moves bytes between two Bun sockets with backpressure: what one side cannot take yet waits for its drain.
import type { Socket } from "bun";

/** Past this much queued, the sending side stops reading until the receiving side drains. */
const HIGH_WATER = 1024 * 1024;

/** One direction's writer: queues what the socket did not accept and flushes it on drain. */
export class SocketWriter {
  private pending: Uint8Array[] = [];
  private ending = false;
  /** The socket the bytes come from: paused while this one is backed up. */
  source: Socket<unknown> | null = null;

  constructor(private readonly socket: Socket<unknown>) {}

  write(chunk: Uint8Array): void {
    if (this.pending.length === 0) {
      const written = this.socket.write(chunk);
      if (written >= chunk.byteLength) return;
      chunk = chunk.subarray(Math.max(0, written));
    }
    this.pending.push(chunk);
    if (this.backlog > HIGH_WATER) this.source?.pause();
  }

  /** Called from the socket's drain handler. */
  drain(): void {
    while (this.pending.length > 0) {
      const chunk = this.pending[0] as Uint8Array;
      const written = this.socket.write(chunk);
      if (written < chunk.byteLength) {
        this.pending[0] = chunk.subarray(Math.max(0, written));
        return;
      }
      this.pending.shift();
    }
    this.source?.resume();
    if (this.ending) this.socket.end();
  }

  /** Ends the socket once everything queued is written. */
  end(): void {
    this.ending = true;
    if (this.pending.length === 0) this.socket.end();
  }

  /** Bytes waiting: a reader may pause while this grows. */
  get backlog(): number {
    return this.pending.reduce((n, c) => n + c.byteLength, 0);
  }
}

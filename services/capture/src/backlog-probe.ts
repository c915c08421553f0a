import type { PeerLink } from '@qemu-webrtc/qemu-dbus';

/** How far behind QEMU capture reads a listener link. */
export interface Backlog {
  /** Seconds QEMU's messages wait for us: the last ping's round trip, or the age of the one pending. */
  seconds: number;
  /** Bytes QEMU had queued ahead of the last ping's reply (or received since the pending one). */
  bytes: number;
}

/**
 * Measures QEMU's backlog on a listener link: every `intervalMs` (one at a time) it pings QEMU on the
 * link itself. QEMU writes the reply behind everything it queued for us, so the round trip is how
 * long a message waits in QEMU's queue, and the bytes read meanwhile are what was queued ahead of it
 * (QEMU before 9.2 queues without limit; 9.2+ drops what a newer scanout replaces).
 */
export class BacklogProbe {
  private last: Backlog = { seconds: 0, bytes: 0 };
  private sentMs: number | undefined;
  private sentBytes = 0;
  private readonly timer: NodeJS.Timeout;

  /**
   * `onWaiting(seconds)`: called each interval while a ping still waits for its reply;
   * `onMeasured(backlog)`: called with each ping's result.
   */
  constructor(
    private readonly connection: PeerLink,
    intervalMs: number,
    private readonly handlers: {
      onWaiting?: (seconds: number) => void;
      onMeasured?: (backlog: Backlog) => void;
    } = {},
  ) {
    this.timer = setInterval(() => {
      this.send();
    }, intervalMs);
    this.timer.unref();
  }

  private send(): void {
    if (this.connection.isClosed) return;
    if (this.sentMs !== undefined) {
      this.handlers.onWaiting?.(this.pendingSeconds());
      return;
    }
    const sentMs = performance.now();
    this.sentMs = sentMs;
    this.sentBytes = this.connection.bytesReceived;
    this.connection.ping(() => {
      this.last = {
        seconds: (performance.now() - sentMs) / 1000,
        bytes: this.connection.bytesReceived - this.sentBytes,
      };
      this.sentMs = undefined;
      this.handlers.onMeasured?.(this.last);
    });
  }

  /** The backlog now: at least the last measured, and at least the pending ping's wait so far. */
  current(): Backlog {
    if (this.sentMs === undefined) return this.last;
    return {
      seconds: Math.max(this.last.seconds, (performance.now() - this.sentMs) / 1000),
      bytes: Math.max(this.last.bytes, this.connection.bytesReceived - this.sentBytes),
    };
  }

  /** Seconds the pending ping has waited (0 when none is pending). */
  pendingSeconds(): number {
    return this.sentMs === undefined ? 0 : (performance.now() - this.sentMs) / 1000;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

import type { NatsConnection } from './nats.js';

/**
 * Bounds what a service (capture's frames and cursor, the encoder's access units) hands to NATS
 * when NATS is slow, stalled or gone: at most `maxUnconfirmed`
 * messages since the last confirmed flush (a server round trip). Past that, callers drop frames
 * instead of growing a buffer; memory stays flat however long NATS stalls.
 */
export class PublishGate {
  private unconfirmed = 0;
  private flushing = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly maxUnconfirmed = 30,
  ) {}

  /** Whether a message may be published now; counts it when so. */
  tryAcquire(): boolean {
    if (this.nc.isClosed() || this.unconfirmed >= this.maxUnconfirmed) return false;
    this.unconfirmed++;
    if (!this.flushing) this.confirm();
    return true;
  }

  private confirm(): void {
    this.flushing = true;
    const pending = this.unconfirmed;
    this.nc
      .flush()
      .then(() => {
        this.unconfirmed = Math.max(0, this.unconfirmed - pending);
      })
      .catch(() => undefined)
      .finally(() => {
        this.flushing = false;
        if (this.unconfirmed > 0 && !this.nc.isClosed()) this.confirm();
      });
  }
}

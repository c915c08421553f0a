import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { NatsConnection } from './nats.js';
import { publishProto } from './nats.js';
import { streamKeyId, subjects, type StreamKey } from './subjects.js';

const { StreamDemand } = qemu_webrtc.v1;

/** How often a consumer renews its leases. */
export const DEMAND_RENEW_MS = 2000;
/** A lease holds for three renewals missed, and a half more for a slow one. */
export const DEMAND_TTL_MS = Math.round(DEMAND_RENEW_MS * 3.5);

/**
 * A consumer's demand for streams (signaling while viewers watch; a recorder): a lease per stream
 * on NATS, published at once when wanted, renewed every DEMAND_RENEW_MS, released when let go. The
 * holder encodes a stream only while someone's lease on it is live (and a linger time after).
 */
export class DemandLeases {
  private readonly wanted = new Map<string, StreamKey>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    /** Unique per consumer process: leases are per consumer. */
    readonly consumer: string,
    private readonly onPublish?: (released: boolean) => void,
    renewMs = DEMAND_RENEW_MS,
  ) {
    this.timer = setInterval(() => {
      for (const key of this.wanted.values()) this.publish(key, false);
    }, renewMs);
    this.timer.unref();
  }

  /** Streams wanted now. */
  get size(): number {
    return this.wanted.size;
  }

  /** Wants a stream encoded (published now, then renewed); again is a no-op. */
  want(key: StreamKey): void {
    const id = streamKeyId(key);
    if (this.closed || this.wanted.has(id)) return;
    this.wanted.set(id, key);
    this.publish(key, false);
  }

  /** Renews a wanted stream's lease now (e.g. its holder changed: the new one may have missed it). */
  renew(key: StreamKey): void {
    if (this.wanted.has(streamKeyId(key))) this.publish(key, false);
  }

  /** No longer wants a stream: the lease ends now. */
  drop(key: StreamKey): void {
    if (!this.wanted.delete(streamKeyId(key))) return;
    this.publish(key, true);
  }

  /** Lets go of every lease. */
  close(): void {
    if (this.closed) return;
    for (const key of this.wanted.values()) this.publish(key, true);
    this.wanted.clear();
    this.closed = true;
    clearInterval(this.timer);
  }

  private publish(key: StreamKey, released: boolean): void {
    if (this.nc.isClosed()) return;
    publishProto(this.nc, subjects.streamDemand(key), StreamDemand, {
      stream: key,
      consumer: this.consumer,
      ttlMs: DEMAND_TTL_MS,
      released,
    });
    this.onPublish?.(released);
  }
}

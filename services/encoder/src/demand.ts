/** The shortest and longest lease a StreamDemand may ask for. */
export const MIN_LEASE_MS = 1000;
export const MAX_LEASE_MS = 60_000;

interface Leases {
  /** consumer -> when its lease ends (ms, performance.now()). */
  byConsumer: Map<string, number>;
  /** When the last lease ended (released or expired). */
  endedMs: number;
}

/**
 * Every consumer's demand leases on every stream (not only held ones: a new holder after a
 * failover knows at once who wants what). A stream is wanted while some lease is live and for
 * `lingerMs` after the last one ended; then its holder stops encoding it.
 */
export class DemandTable {
  private readonly streams = new Map<string, Leases>();

  constructor(private readonly lingerMs: number) {}

  /** A lease taken or renewed (ttl clamped to MIN..MAX_LEASE_MS), or released. */
  heard(streamId: string, consumer: string, ttlMs: number, released: boolean, now: number): void {
    let s = this.streams.get(streamId);
    if (!s) {
      if (released) return;
      s = { byConsumer: new Map(), endedMs: -Infinity };
      this.streams.set(streamId, s);
    }
    if (released) {
      if (s.byConsumer.delete(consumer)) s.endedMs = Math.max(s.endedMs, now);
      return;
    }
    const ttl = Math.min(MAX_LEASE_MS, Math.max(MIN_LEASE_MS, ttlMs || MIN_LEASE_MS));
    s.byConsumer.set(consumer, now + ttl);
  }

  /** Live leases on a stream now (expired ones are dropped here). */
  leases(streamId: string, now: number): number {
    const s = this.streams.get(streamId);
    if (!s) return 0;
    for (const [consumer, until] of s.byConsumer) {
      if (until <= now) {
        s.byConsumer.delete(consumer);
        s.endedMs = Math.max(s.endedMs, until);
      }
    }
    return s.byConsumer.size;
  }

  /** Whether the stream is to be encoded now: a live lease, or within the linger after the last. */
  wanted(streamId: string, now: number): boolean {
    if (this.leases(streamId, now) > 0) return true;
    const s = this.streams.get(streamId);
    return s !== undefined && now < s.endedMs + this.lingerMs;
  }

  /** Forgets streams with no lease whose linger is over; returns the live leases in all. */
  sweep(now: number): number {
    let live = 0;
    for (const [id, s] of this.streams) {
      const n = this.leases(id, now);
      live += n;
      if (n === 0 && now >= s.endedMs + this.lingerMs) this.streams.delete(id);
    }
    return live;
  }
}

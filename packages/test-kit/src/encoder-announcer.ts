import { claimEpoch, publishProto, subjects, type NatsConnection, type StreamKey } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';

const { EncoderHeartbeat, StreamClaim } = qemu_webrtc.v1;

/**
 * Stands in for a real encoder's membership messages where a test or bench publishes access units
 * itself: heartbeats every `heartbeatMs` naming the streams it holds, and a claim for each, so
 * signaling counts its access units (it drops those of encoders that hold nothing).
 */
export class EncoderAnnouncer {
  private timer: NodeJS.Timeout | undefined;
  epoch = claimEpoch();

  constructor(
    private readonly nc: NatsConnection,
    public encoderId: string,
    readonly streams: readonly StreamKey[],
    private readonly heartbeatMs = 250,
  ) {
    this.announce();
    this.timer = setInterval(() => this.beat(false), heartbeatMs);
    this.timer.unref();
  }

  /** Heartbeat plus a claim of every stream, as an encoder taking them does. */
  private announce(): void {
    this.beat(false);
    for (const stream of this.streams) {
      publishProto(this.nc, subjects.streamClaims, StreamClaim, {
        stream,
        encoderId: this.encoderId,
        epoch: this.epoch,
        sentUs: Date.now() * 1000,
      });
    }
  }

  private beat(leaving: boolean): void {
    if (this.nc.isClosed()) return;
    publishProto(this.nc, subjects.encoderHeartbeat, EncoderHeartbeat, {
      encoderId: this.encoderId,
      streams: leaving ? [] : [...this.streams],
      sentUs: Date.now() * 1000,
      leaving,
    });
  }

  /** A failover: the streams pass to another encoder id with a later epoch. */
  handOver(encoderId: string): void {
    this.beat(true);
    this.encoderId = encoderId;
    this.epoch++;
    this.announce();
  }

  /** Resolves once signaling has had time to admit the encoder (past its probation). */
  settle(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.heartbeatMs * 3));
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.beat(true);
  }
}

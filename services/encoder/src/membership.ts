import { EventEmitter } from 'node:events';
import {
  nowUs,
  publishProto,
  subjects,
  subscribeProto,
  type Logger,
  type NatsConnection,
  type Subscription,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';

const { EncoderHeartbeat } = qemu_webrtc.v1;

interface Events {
  changed: [];
}

/**
 * Which encoders are alive: each publishes a heartbeat every `heartbeatMs`; one not heard from for
 * `timeoutMs` is gone, and one that says it is leaving is gone at once.
 */
export class Membership extends EventEmitter<Events> {
  private readonly lastSeen = new Map<string, number>();
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly startedMs = performance.now();

  constructor(
    private readonly nc: NatsConnection,
    readonly selfId: string,
    private readonly heartbeatMs: number,
    private readonly timeoutMs: number,
    private readonly report: () => Pick<
      qemu_webrtc.v1.IEncoderHeartbeat,
      'streams' | 'framesEncoded' | 'cpuFraction' | 'renditions'
    >,
    private readonly logger: Logger,
  ) {
    super();
  }

  start(): void {
    this.lastSeen.set(this.selfId, performance.now());
    this.sub = subscribeProto(
      this.nc,
      subjects.encoderHeartbeat,
      EncoderHeartbeat,
      (hb) => {
        if (hb.encoderId === this.selfId || hb.encoderId === '') return;
        const known = this.lastSeen.has(hb.encoderId);
        if (hb.leaving) {
          if (known) {
            this.lastSeen.delete(hb.encoderId);
            this.logger.info({ encoder: hb.encoderId }, 'encoder left');
            this.emit('changed');
          }
          return;
        }
        this.lastSeen.set(hb.encoderId, performance.now());
        if (!known) {
          this.logger.info({ encoder: hb.encoderId }, 'encoder joined');
          this.emit('changed');
        }
      },
      { logger: this.logger },
    );
    this.timer = setInterval(() => {
      this.beat(false);
      this.expire();
    }, this.heartbeatMs);
    this.beat(false);
  }

  /** Has this encoder listened long enough to know the others? (Avoids grabbing everything at start.) */
  get settled(): boolean {
    return performance.now() - this.startedMs >= this.timeoutMs;
  }

  /** Live encoders, this one included, sorted. */
  members(): string[] {
    return [...this.lastSeen.keys()].sort();
  }

  private expire(): void {
    const now = performance.now();
    let changed = false;
    for (const [id, seen] of this.lastSeen) {
      if (id !== this.selfId && now - seen > this.timeoutMs) {
        this.lastSeen.delete(id);
        this.logger.warn({ encoder: id }, 'encoder timed out');
        changed = true;
      }
    }
    this.lastSeen.set(this.selfId, now);
    if (changed) this.emit('changed');
  }

  private beat(leaving: boolean): void {
    if (this.nc.isClosed()) return;
    publishProto(this.nc, subjects.encoderHeartbeat, EncoderHeartbeat, {
      encoderId: this.selfId,
      ...this.report(),
      sentUs: nowUs(),
      leaving,
    });
  }

  /** Says goodbye (others take our streams at once) and stops. */
  leave(): void {
    clearInterval(this.timer);
    this.beat(true);
    this.sub?.unsubscribe();
  }
}

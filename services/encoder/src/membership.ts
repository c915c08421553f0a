import { EventEmitter } from 'node:events';
import {
  EncoderRoster,
  nowUs,
  publishProto,
  streamKeyId,
  subjects,
  subscribeProto,
  type BadInputLog,
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
 * `timeoutMs` is gone, and one that says it is leaving is gone at once. A newcomer counts after
 * `timeoutMs` of unbroken heartbeats (forged one-off heartbeats never join), and a member that
 * does not hold the streams it owns for twice that is left out of ownership (see `audit`).
 * Hand-overs are make-before-break (EncoderService.rebalance): a stream is released only once
 * its new owner says it holds it, so a member that never takes what it owns stalls nothing.
 */
export class Membership extends EventEmitter<Events> {
  private readonly roster: EncoderRoster;
  /** Members seen not serving what they own, since when. */
  private readonly notServingSince = new Map<string, number>();
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
    private readonly badInput: BadInputLog,
  ) {
    super();
    this.roster = new EncoderRoster({ timeoutMs, probationMs: timeoutMs });
  }

  start(): void {
    this.sub = subscribeProto(
      this.nc,
      subjects.encoderHeartbeat,
      EncoderHeartbeat,
      (hb) => {
        if (hb.encoderId === this.selfId || hb.encoderId === '') return;
        const change = this.roster.heard({
          encoderId: hb.encoderId,
          streams: hb.streams.map((s) =>
            streamKeyId({ vmId: s.vmId ?? '', consoleId: s.consoleId ?? 0, rendition: s.rendition ?? '' }),
          ),
          leaving: hb.leaving,
        });
        if (change === 'joined') this.logger.info({ encoder: hb.encoderId }, 'encoder joined');
        if (change === 'left') this.logger.info({ encoder: hb.encoderId }, 'encoder left');
        if (change !== undefined) this.emit('changed');
      },
      { logger: this.logger, badInput: this.badInput },
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

  /** Live encoders that take part in ownership, this one included, sorted. */
  members(): string[] {
    return [...this.roster.owners(), this.selfId].sort();
  }

  /** Does this member (admitted, another encoder) say it holds the stream? */
  holds(encoderId: string, streamId: string): boolean {
    return this.roster.holds(encoderId, streamId);
  }

  /**
   * Checks that every other member holds the streams hashing gives it (`owned`: member -> stream
   * ids). One that has not for 2 x timeoutMs since it joined or was last seen serving is left out
   * of ownership: the streams come back to the encoders that serve them.
   */
  audit(owned: ReadonlyMap<string, readonly string[]>): void {
    const now = performance.now();
    let changed = false;
    for (const id of this.roster.owners()) {
      const held = this.roster.heldBy(id);
      const serving = (owned.get(id) ?? []).every((s) => held.has(s));
      if (serving) {
        this.notServingSince.delete(id);
        continue;
      }
      const since = this.notServingSince.get(id) ?? now;
      this.notServingSince.set(id, since);
      if (now - since > 2 * this.timeoutMs) {
        this.roster.quarantine(id);
        this.notServingSince.delete(id);
        this.badInput.warn(
          'not_serving',
          { encoder: id, owned: owned.get(id)?.length ?? 0, held: held.size },
          'encoder heartbeats but does not serve the streams it owns: left out of ownership',
        );
        changed = true;
      }
    }
    if (changed) this.emit('changed');
  }

  private expire(): void {
    const gone = this.roster.expire();
    for (const id of gone) {
      this.notServingSince.delete(id);
      this.logger.warn({ encoder: id }, 'encoder timed out');
    }
    if (gone.length > 0) this.emit('changed');
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

import {
  EncoderRoster,
  streamKeyId,
  subjects,
  subscribeProto,
  validStreamKey,
  type BadInputLog,
  type Logger,
  type NatsConnection,
  type Subscription,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { RenditionLadder } from './rendition-ladder.js';

const { EncoderHeartbeat, StreamClaim } = qemu_webrtc.v1;

/** Heartbeats an encoder must have sent, without a gap, before its access units count. */
const PROBATION_MS = 400;

const idOf = (s: qemu_webrtc.v1.IStreamId): string | undefined => {
  const key = validStreamKey(s);
  return key ? streamKeyId(key) : undefined;
};

/**
 * What signaling knows of the encoders, from their heartbeats and stream claims: which are alive
 * and which streams each holds (the roster: StreamHub takes access units only from an encoder that
 * holds the stream), and the renditions they make (the ladder).
 */
export class EncoderWatch {
  readonly roster: EncoderRoster;
  /** Called when an encoder is admitted (a new one may hold streams soon: tell it the demand). */
  onJoined: (() => void) | undefined;
  private readonly subs: Subscription[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    nc: NatsConnection,
    ladder: RenditionLadder,
    timeoutMs: number,
    logger: Logger,
    badInput: BadInputLog,
  ) {
    this.roster = new EncoderRoster({ timeoutMs, probationMs: Math.min(PROBATION_MS, timeoutMs) });
    const opts = { logger, badInput };
    this.subs.push(
      subscribeProto(
        nc,
        subjects.encoderHeartbeat,
        EncoderHeartbeat,
        (hb) => {
          if (hb.encoderId === '') return;
          const streams = hb.streams.map(idOf).filter((id): id is string => id !== undefined);
          const change = this.roster.heard({ encoderId: hb.encoderId, streams, leaving: hb.leaving });
          if (change !== undefined) logger.info({ encoder: hb.encoderId }, `encoder ${change}`);
          if (change === 'joined') this.onJoined?.();
          if (!hb.leaving) ladder.learn(hb.renditions);
        },
        opts,
      ),
      subscribeProto(
        nc,
        subjects.streamClaims,
        StreamClaim,
        (claim) => {
          const id = claim.stream ? idOf(claim.stream) : undefined;
          if (id !== undefined) this.roster.claimed(claim.encoderId, id, claim.released);
        },
        opts,
      ),
    );
    this.timer = setInterval(() => this.roster.expire(), timeoutMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    for (const sub of this.subs) sub.unsubscribe();
  }
}

import { hostname } from 'node:os';
import {
  DemandLeases,
  isPlausibleEpoch,
  publishProto,
  streamKeyId,
  subjects,
  type BadInputLog,
  type EncoderRoster,
  type Logger,
  type NatsConnection,
  type StreamKey,
  type Subscription,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { SignalingMetrics } from './metrics.js';

const { EncodedFrame, KeyframeRequest } = qemu_webrtc.v1;

/** Where a stream's access units go: one viewer's video track. */
export interface FrameSink {
  readonly id: string;
  /** The transport can carry media now (track open). */
  readonly ready: boolean;
  /** One Annex B access unit with its 90 kHz RTP timestamp. */
  sendFrame(data: Buffer, rtpTimestamp: number, keyframe: boolean): void;
}

interface Member {
  sink: FrameSink;
  /** Nothing is sent until an IDR of the current holder. */
  waiting: boolean;
  waitingSinceMs: number;
  /** Called once, when the first access unit (an IDR) has been sent to this member. */
  onStart: (() => void) | undefined;
}

/** A viewer that waits this long for an IDR asks again. */
const JOIN_RETRY_MS = 1500;

/** 90 kHz RTP timestamp of a microsecond presentation time, wrapped to 32 bits. */
export function rtpTimestamp(ptsUs: number): number {
  return Math.floor((ptsUs * 9) / 100) % 2 ** 32;
}

/** One encoded stream (console x rendition) and the viewers it feeds. */
class Stream {
  readonly members = new Map<string, Member>();
  sub: Subscription | undefined;
  holder: { encoderId: string; epoch: number } | undefined;
  lastSequence = 0;
  lastRequestMs = -Infinity;
  requestTimer: NodeJS.Timeout | undefined;
  pendingReason = '';
  width = 0;
  height = 0;

  constructor(readonly key: StreamKey) {}

  get id(): string {
    return streamKeyId(this.key);
  }
}

/**
 * One NATS subscription per watched stream feeds every viewer of it: one encode, many viewers. A
 * viewer starts at an IDR (joining sends a keyframe request); a new encoder (failover: another
 * encoderId/epoch) or a lost access unit makes every viewer wait for the next IDR. Keyframe
 * requests to the encoder are rate-limited per stream: wishes inside the interval merge into one.
 *
 * Access units count only from an encoder the roster says is alive and holds the stream, with an
 * epoch no honest clock can be past: a forged unit (another encoder id, or an absurd epoch) is
 * dropped and can never lock a stream away from its real encoder. A holder that no longer holds
 * the stream (released, timed out) gives way to any encoder that does, whatever the epochs.
 *
 * While a stream has viewers the hub holds a demand lease on it (StreamDemand, renewed): encoders
 * encode only demanded streams. The last viewer leaving releases it.
 */
export class StreamHub {
  private readonly streams = new Map<string, Stream>();
  private readonly watchdog: NodeJS.Timeout;
  private readonly demand: DemandLeases;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly metrics: SignalingMetrics,
    private readonly logger: Logger,
    private readonly keyframeMinIntervalMs: number,
    private readonly roster: EncoderRoster,
    private readonly badInput: BadInputLog,
    private readonly requester = 'signaling',
  ) {
    this.watchdog = setInterval(() => this.retryWaiting(), 500);
    this.watchdog.unref();
    const consumer = `${requester}-${hostname()
      .replace(/[^A-Za-z0-9_-]/g, '-')
      .slice(0, 40)}-${process.pid}`;
    this.demand = new DemandLeases(nc, consumer, (released) => {
      this.metrics.demandMessages.inc({ kind: released ? 'release' : 'renew' });
      this.metrics.demandLeases.set(this.demand.size);
    });
  }

  /**
   * Adds a viewer to a stream (subscribing on the first); returns its detach function. `onStart`
   * runs once, right after the first IDR went to the viewer (a rendition switch detaches the old
   * stream then: make before break).
   */
  attach(key: StreamKey, sink: FrameSink, onStart?: () => void): () => void {
    if (this.closed) throw new Error('stream hub closed');
    const id = streamKeyId(key);
    let stream = this.streams.get(id);
    if (!stream) {
      stream = new Stream(key);
      this.streams.set(id, stream);
      this.subscribe(stream);
      this.metrics.streams.set(this.streams.size);
      this.logger.info({ stream: id }, 'stream subscribed');
      this.demand.want(key);
    }
    stream.members.set(sink.id, { sink, waiting: true, waitingSinceMs: performance.now(), onStart });
    const s = stream;
    return () => this.detach(s, sink.id);
  }

  /** The sink can receive media now: it asks for an IDR to start from. */
  sinkReady(key: StreamKey, sinkId: string): void {
    const stream = this.streams.get(streamKeyId(key));
    const m = stream?.members.get(sinkId);
    if (!stream || !m) return;
    m.waiting = true;
    m.waitingSinceMs = performance.now();
    this.requestKeyframe(stream, 'join');
  }

  /** A viewer's decoder needs an IDR (RTCP PLI/FIR). */
  keyframeWanted(key: StreamKey, reason: string): void {
    const stream = this.streams.get(streamKeyId(key));
    if (stream) this.requestKeyframe(stream, reason);
  }

  /**
   * Renews every demand lease now: an encoder just joined, knows no lease yet, and may take a
   * watched stream before the next renewal.
   */
  renewDemand(): void {
    for (const stream of this.streams.values()) this.demand.renew(stream.key);
  }

  /** The picture size of a stream's last access unit (0 x 0 before the first). */
  size(key: StreamKey): { width: number; height: number } {
    const s = this.streams.get(streamKeyId(key));
    return { width: s?.width ?? 0, height: s?.height ?? 0 };
  }

  /** Viewer count per stream id, for health. */
  summary(): Record<string, number> {
    return Object.fromEntries([...this.streams.values()].map((s) => [s.id, s.members.size]));
  }

  private subscribe(stream: Stream): void {
    stream.sub = this.nc.subscribe(subjects.encoded(stream.key), {
      callback: (err, msg) => {
        if (err) return;
        let frame: qemu_webrtc.v1.EncodedFrame;
        try {
          frame = EncodedFrame.decode(msg.data);
        } catch (error) {
          this.metrics.rejected.inc({ reason: 'bad_encoded_frame' });
          this.badInput.warn(
            'bad_encoded_frame',
            { stream: stream.id, err: error },
            'undecodable EncodedFrame',
          );
          return;
        }
        if (this.trusted(stream, frame)) this.onFrame(stream, frame);
      },
    });
  }

  /** Does this access unit come from an encoder that holds the stream, with a plausible epoch? */
  private trusted(stream: Stream, frame: qemu_webrtc.v1.EncodedFrame): boolean {
    let reason: string | undefined;
    if (!isPlausibleEpoch(frame.epoch)) reason = 'implausible_epoch';
    else if (!this.roster.holds(frame.encoderId, stream.id)) reason = 'not_holder';
    if (reason === undefined) return true;
    this.metrics.framesSkipped.inc({ reason });
    this.badInput.warn(
      reason,
      { stream: stream.id, encoder: frame.encoderId.slice(0, 80), epoch: frame.epoch },
      'access unit from an encoder that does not hold the stream: dropped',
    );
    return false;
  }

  private onFrame(stream: Stream, frame: qemu_webrtc.v1.EncodedFrame): void {
    this.metrics.framesIn.inc();
    const holder = stream.holder;
    if (!holder || holder.encoderId !== frame.encoderId || holder.epoch !== frame.epoch) {
      const holderStillHolds = holder !== undefined && this.roster.holds(holder.encoderId, stream.id);
      if (holder && holderStillHolds && frame.epoch < holder.epoch) {
        // An older holder still talking after the hand-over: ignore it.
        this.metrics.framesSkipped.inc({ reason: 'stale_holder' });
        return;
      }
      if (holder) {
        this.logger.info(
          { stream: stream.id, from: holder, to: { encoderId: frame.encoderId, epoch: frame.epoch } },
          'stream changed hands; viewers wait for the new IDR',
        );
      }
      stream.holder = { encoderId: frame.encoderId, epoch: frame.epoch };
      this.waitAll(stream);
      if (!frame.keyframe) this.requestKeyframe(stream, holder ? 'handover' : 'join');
    } else if (frame.sequence !== stream.lastSequence + 1 && frame.sequence > stream.lastSequence) {
      // An access unit went missing on the way: the decoders' references are broken.
      this.waitAll(stream);
      if (!frame.keyframe) this.requestKeyframe(stream, 'gap');
    } else if (frame.sequence <= stream.lastSequence) {
      this.metrics.framesSkipped.inc({ reason: 'out_of_order' });
      return;
    }
    stream.lastSequence = frame.sequence;
    stream.width = frame.width;
    stream.height = frame.height;
    const data = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
    const ts = rtpTimestamp(frame.ptsUs);
    for (const m of stream.members.values()) {
      if (m.waiting) {
        if (!frame.keyframe || !m.sink.ready) {
          this.metrics.framesSkipped.inc({ reason: 'waiting_for_idr' });
          continue;
        }
        m.waiting = false;
      }
      try {
        m.sink.sendFrame(data, ts, frame.keyframe);
        this.metrics.framesSent.inc();
        this.metrics.bytesSent.inc(data.byteLength);
      } catch (error) {
        this.metrics.framesSkipped.inc({ reason: 'send_failed' });
        this.logger.debug({ viewer: m.sink.id, err: error }, 'send failed');
      }
      if (m.onStart) {
        const onStart = m.onStart;
        m.onStart = undefined;
        onStart();
      }
    }
  }

  private waitAll(stream: Stream): void {
    const now = performance.now();
    for (const m of stream.members.values()) {
      if (!m.waiting) m.waitingSinceMs = now;
      m.waiting = true;
    }
  }

  private requestKeyframe(stream: Stream, reason: string): void {
    if (this.closed) return;
    if (stream.requestTimer) {
      this.metrics.keyframeRequestsSuppressed.inc();
      return;
    }
    const wait = stream.lastRequestMs + this.keyframeMinIntervalMs - performance.now();
    if (wait <= 0) {
      this.publishRequest(stream, reason);
      return;
    }
    this.metrics.keyframeRequestsSuppressed.inc();
    stream.pendingReason = reason;
    stream.requestTimer = setTimeout(() => {
      stream.requestTimer = undefined;
      if (this.streams.get(stream.id) === stream) this.publishRequest(stream, stream.pendingReason);
    }, wait);
  }

  private publishRequest(stream: Stream, reason: string): void {
    if (this.nc.isClosed()) return;
    stream.lastRequestMs = performance.now();
    publishProto(this.nc, subjects.keyframeRequest(stream.key), KeyframeRequest, {
      stream: stream.key,
      requester: this.requester,
      reason,
    });
    this.metrics.keyframeRequests.inc({ reason });
    this.logger.debug({ stream: stream.id, reason }, 'keyframe requested');
  }

  /** Viewers ready for a while and still without a picture ask again (a request may be lost). */
  private retryWaiting(): void {
    const now = performance.now();
    for (const stream of this.streams.values()) {
      const stuck = [...stream.members.values()].some(
        (m) => m.waiting && m.sink.ready && now - m.waitingSinceMs > JOIN_RETRY_MS,
      );
      if (stuck && now - stream.lastRequestMs > JOIN_RETRY_MS) {
        // A holder that came up after the last renewal does not know the lease yet.
        this.demand.renew(stream.key);
        this.requestKeyframe(stream, 'join-retry');
      }
    }
  }

  private detach(stream: Stream, sinkId: string): void {
    stream.members.delete(sinkId);
    if (stream.members.size > 0 || this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    clearTimeout(stream.requestTimer);
    stream.sub?.unsubscribe();
    this.demand.drop(stream.key);
    this.metrics.streams.set(this.streams.size);
    this.logger.info({ stream: stream.id }, 'stream unsubscribed');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    this.demand.close();
    for (const stream of this.streams.values()) {
      clearTimeout(stream.requestTimer);
      stream.sub?.unsubscribe();
    }
    this.streams.clear();
    this.metrics.streams.set(0);
  }
}

import {
  nowUs,
  publishProto,
  streamKeyId,
  subjects,
  type Logger,
  type NatsConnection,
  type PublishGate,
  type StreamKey,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { EncoderConfig } from './config.js';
import { drainFfmpegLogs } from './ffmpeg-log.js';
import type { EncoderMetrics } from './metrics.js';
import { H264Encoder, type InputPixelFormat } from './native.js';
import { renditionSize, type Rendition } from './renditions.js';
import type { RingCache } from './ring-cache.js';

const { EncodedFrame, PixelFormat } = qemu_webrtc.v1;

/**
 * A lowered bitrate or frame rate holds this long unless repeated: signaling repeats its target
 * every 5 s while the viewers that need it are there, so a control nobody stands behind (its
 * viewers gone, or forged) ends by itself and the rendition's own values come back.
 */
export const CONTROL_LEASE_MS = 12_000;
/** The lowest frame-rate cap a control may set. */
const MIN_CONTROLLED_FPS = 10;

type KeyframeReason = 'start' | 'demand' | 'resize' | 'request';

export interface StreamEncoderOptions {
  nc: NatsConnection;
  /** Bounds the access units handed to NATS while it stalls (shared by the encoder's streams). */
  gate: PublishGate;
  key: StreamKey;
  rendition: Rendition;
  config: EncoderConfig;
  rings: RingCache;
  metrics: EncoderMetrics;
  logger: Logger;
  /** The claim epoch (claimEpoch: later takers have larger ones), so receivers can tell the new holder's output. */
  epoch: number;
}

function inputFormat(format: qemu_webrtc.v1.PixelFormat): InputPixelFormat | undefined {
  if (format === PixelFormat.PIXEL_FORMAT_BGRX) return 'bgrx';
  if (format === PixelFormat.PIXEL_FORMAT_BGRA) return 'bgra';
  return undefined;
}

/**
 * Encodes one stream (console x rendition): the newest frame wins (frames arriving while an encode
 * runs replace each other, nothing queues), one encode at a time off the JS thread, an IDR first
 * and on request (rate-limited), and every access unit published as EncodedFrame. Only while
 * active (someone demands the stream): an idle stream keeps just the newest FrameReady and no
 * codec, and on activation encodes that frame at once, as an IDR.
 */
export class StreamEncoder {
  private encoder: H264Encoder | undefined;
  /** The frame to encode next (newest wins). */
  private latest: qemu_webrtc.v1.FrameReady | undefined;
  /** The newest frame seen, encoded or not: where encoding starts again on demand. */
  private newest: qemu_webrtc.v1.FrameReady | undefined;
  /** An access unit was published before (a restart on demand is labelled 'demand'). */
  private started = false;
  /** When it went active, until its first access unit after that (encoder_demand_start_seconds). */
  private activatedMs: number | undefined;
  private busy = false;
  private closed = false;
  private active = false;
  private sequence = 0;
  private keyframeWanted = true;
  /** Why the next frame is to be an IDR (the label of encoder_keyframes_total). */
  private keyframeReason: KeyframeReason = 'start';
  private lastKeyframeMs = -Infinity;
  private keyframeTimer: NodeJS.Timeout | undefined;
  private nextDueMs = -Infinity;
  private bitrateBps: number;
  private maxFps: number;
  private controlTimer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;
  private readonly streamId: string;

  constructor(private readonly opts: StreamEncoderOptions) {
    this.streamId = streamKeyId(opts.key);
    this.logger = opts.logger.child({ stream: this.streamId });
    this.bitrateBps = opts.rendition.bitrateBps;
    opts.metrics.targetBitrate.set({ stream: this.streamId }, this.bitrateBps);
    this.maxFps = opts.config.ENCODER_MAX_FPS;
  }

  /** The stream it encodes. */
  get key(): StreamKey {
    return this.opts.key;
  }

  /** Whether it encodes now (someone demands the stream). */
  get isActive(): boolean {
    return this.active;
  }

  /** Whether it has a frame to start from (a FrameReady seen since it was made). */
  get hasFrame(): boolean {
    return this.newest !== undefined;
  }

  /**
   * Starts or stops encoding. Starting encodes the newest frame at once, as an IDR; stopping
   * frees the codec (after an encode in flight).
   */
  setActive(active: boolean): void {
    if (this.closed || active === this.active) return;
    this.active = active;
    this.logger.info({ active }, active ? 'stream demanded: encoding' : 'no demand: encoding stopped');
    if (active) {
      this.wantKeyframe(this.started ? 'demand' : 'start');
      this.activatedMs = performance.now();
      // The console may not have changed since: its newest frame is still in the ring (the read's
      // sequence check says if not, and then a newer FrameReady is on its way).
      this.latest ??= this.newest;
      if (this.latest && !this.busy) void this.pump();
    } else if (!this.busy) {
      this.freeCodec();
    }
  }

  private freeCodec(): void {
    this.encoder?.close();
    this.encoder = undefined;
  }

  /** A new frame of this stream's console is in the ring. */
  onFrame(frame: qemu_webrtc.v1.FrameReady): void {
    if (this.closed) return;
    this.newest = frame;
    if (!this.active) return; // kept to start from; nothing is counted for a stream nobody watches
    this.opts.metrics.framesIn.inc();
    if (this.latest) this.opts.metrics.framesDropped.inc({ reason: 'superseded' });
    this.latest = frame;
    if (!this.busy) void this.pump();
  }

  /** A viewer needs an IDR; honoured at most every KEYFRAME_MIN_INTERVAL_MS. */
  requestKeyframe(reason: string): void {
    if (this.closed || !this.active || this.keyframeWanted || this.keyframeTimer) return;
    const wait = this.lastKeyframeMs + this.opts.config.KEYFRAME_MIN_INTERVAL_MS - performance.now();
    if (wait <= 0) {
      this.wantKeyframe('request');
    } else {
      this.keyframeTimer = setTimeout(() => {
        this.keyframeTimer = undefined;
        this.wantKeyframe('request');
      }, wait);
    }
    this.logger.debug({ reason }, 'keyframe requested');
  }

  private wantKeyframe(reason: KeyframeReason): void {
    if (this.keyframeWanted) return;
    this.keyframeWanted = true;
    this.keyframeReason = reason;
  }

  /**
   * Adaptive bitrate and frame rate at run time (0 leaves a value unchanged), for CONTROL_LEASE_MS:
   * then the rendition's bitrate and the configured frame rate come back. Values are clamped to
   * what a struggling link can justify (at most nominal, at least a twentieth of it; at least
   * MIN_CONTROLLED_FPS), so even a forged control only lowers quality, for one lease.
   */
  control(bitrateBps: number, maxFps: number): void {
    const nominal = this.opts.rendition.bitrateBps;
    if (bitrateBps === 0 && maxFps === 0) {
      this.opts.metrics.controls.inc({ outcome: 'rejected' });
      return;
    }
    this.opts.metrics.controls.inc({ outcome: 'applied' });
    if (bitrateBps !== 0) {
      this.setBitrate(Math.min(nominal, Math.max(bitrateBps, Math.ceil(nominal / 20), 50_000)));
    }
    if (maxFps !== 0) {
      const fps = Math.min(this.opts.config.ENCODER_MAX_FPS, Math.max(maxFps, MIN_CONTROLLED_FPS));
      if (fps !== this.maxFps) {
        this.maxFps = fps;
        this.logger.info({ maxFps: fps }, 'frame rate cap changed');
      }
    }
    clearTimeout(this.controlTimer);
    this.controlTimer = setTimeout(() => {
      this.controlTimer = undefined;
      this.opts.metrics.controls.inc({ outcome: 'expired' });
      this.setBitrate(nominal);
      this.maxFps = this.opts.config.ENCODER_MAX_FPS;
    }, CONTROL_LEASE_MS);
    this.controlTimer.unref();
  }

  private setBitrate(bitrateBps: number): void {
    this.opts.metrics.targetBitrate.set({ stream: this.streamId }, bitrateBps);
    if (bitrateBps === this.bitrateBps) return;
    this.bitrateBps = bitrateBps;
    const inPlace = this.encoder?.setBitrate(bitrateBps);
    this.logger.info({ bitrateBps, inPlace }, 'bitrate changed');
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      while (this.latest && !this.closed && this.active) {
        const frame = this.latest;
        this.latest = undefined;
        if (!this.keyframeWanted && !this.rateAllows(performance.now())) {
          this.opts.metrics.framesDropped.inc({ reason: 'rate' });
          continue;
        }
        try {
          await this.encodeFrame(frame);
        } catch (error) {
          this.opts.metrics.framesDropped.inc({ reason: 'error' });
          this.logger.warn({ err: error, ring: frame.ringName, slot: frame.slot }, 'frame dropped');
        } finally {
          // What FFmpeg/x264 said while opening the codec or encoding (warnings by default).
          drainFfmpegLogs(this.logger);
        }
      }
    } finally {
      this.busy = false;
      if (!this.active) this.freeCodec();
    }
  }

  /**
   * The frame-rate cap as a schedule, not a minimum gap: frames are due every 1/maxFps, a frame up
   * to a quarter interval early still counts (a 60 fps source jitters), and the long-run rate
   * stays at most maxFps.
   */
  private rateAllows(now: number): boolean {
    const interval = 1000 / this.maxFps;
    if (now < this.nextDueMs - interval / 4) return false;
    this.nextDueMs = Math.max(this.nextDueMs, now) + interval;
    return true;
  }

  private openEncoder(width: number, height: number): H264Encoder {
    const c = this.opts.config;
    const out = renditionSize(this.opts.rendition, width, height);
    const encoder = new H264Encoder({
      width,
      height,
      outputWidth: out.width,
      outputHeight: out.height,
      fps: this.maxFps,
      bitrateBps: this.bitrateBps,
      codec: c.ENCODER_CODEC,
      preset: c.ENCODER_PRESET,
      profile: c.ENCODER_PROFILE,
      keyintMax: Math.round(c.ENCODER_KEYINT_SECONDS * this.maxFps),
      vbvBufferFrames: c.ENCODER_VBV_SECONDS * this.maxFps,
      ...(c.ENCODER_VAAPI_DEVICE !== undefined ? { vaapiDevice: c.ENCODER_VAAPI_DEVICE } : {}),
    });
    if (encoder.fallbackReason !== null) {
      this.logger.warn(
        { codec: encoder.codecName, reason: encoder.fallbackReason },
        'hardware encoder unavailable; using x264',
      );
    }
    this.logger.info({ width, height, output: out, codec: encoder.codecName }, 'encoder opened');
    return encoder;
  }

  private async encodeFrame(frame: qemu_webrtc.v1.FrameReady): Promise<void> {
    const format = inputFormat(frame.format);
    if (
      format === undefined ||
      frame.width < 1 ||
      frame.height < 1 ||
      frame.width > 16384 ||
      frame.height > 16384
    ) {
      this.opts.metrics.framesDropped.inc({ reason: 'geometry' });
      this.logger.warn(
        { width: frame.width, height: frame.height, format: frame.format },
        'impossible frame geometry',
      );
      return;
    }
    // NATS is not taking what we publish: skip the frame before encoding it (a frame never encoded
    // breaks no reference chain), rather than queue access units without bound.
    if (!this.opts.gate.tryAcquire()) {
      this.opts.metrics.framesDropped.inc({ reason: 'nats' });
      return;
    }
    const ring = this.opts.rings.get(frame.ringName, frame.ringGeneration);
    const slot = ring?.read(frame.slot, frame.sequence);
    if (!ring || !slot) {
      this.opts.metrics.framesDropped.inc({ reason: 'stale' });
      return;
    }
    if (slot.width !== frame.width || slot.height !== frame.height) {
      this.opts.metrics.framesDropped.inc({ reason: 'geometry' });
      return;
    }
    if (!this.encoder || this.encoder.width !== slot.width || this.encoder.height !== slot.height) {
      const first = !this.encoder;
      this.encoder?.close();
      this.encoder = this.openEncoder(slot.width, slot.height);
      if (!this.keyframeWanted || (this.keyframeReason !== 'start' && this.keyframeReason !== 'demand')) {
        this.keyframeWanted = true;
        this.keyframeReason = first ? 'start' : 'resize';
      }
    }
    const forceKeyframe = this.keyframeWanted;
    const keyframeReason = this.keyframeReason;
    this.keyframeWanted = false;
    const started = nowUs();
    const { buffer, byteOffset } = ring.sequenceLocation(frame.slot);
    const au = await this.encoder.encode({
      data: slot.pixels,
      stride: slot.stride,
      width: slot.width,
      height: slot.height,
      format,
      ptsUs: frame.publishedUs,
      forceKeyframe,
      // Checked after the colour conversion, before the encode: a slot capture reused while it was
      // read is discarded (the next frame is encoded instead), never shown.
      seqlock: { buffer, byteOffset, expected: BigInt(frame.sequence) },
    });
    if (au && 'torn' in au) {
      this.opts.metrics.framesDropped.inc({ reason: 'torn' });
      if (forceKeyframe) this.wantKeyframe(keyframeReason);
      return;
    }
    if (!au || this.closed) return;
    const encoded = nowUs();
    this.opts.metrics.encodeSeconds.observe((encoded - started) / 1e6);
    this.started = true;
    if (au.keyframe) {
      // A stream's first IDR (taken, or demanded again) usually goes out before its new viewer's
      // track is open: the viewer's own request that follows is not made to wait for the rate limit.
      const opening = forceKeyframe && (keyframeReason === 'start' || keyframeReason === 'demand');
      if (!opening) this.lastKeyframeMs = performance.now();
      this.opts.metrics.keyframes.inc({ reason: forceKeyframe ? keyframeReason : 'codec' });
    }
    const message: qemu_webrtc.v1.IEncodedFrame = {
      stream: this.opts.key,
      data: au.data,
      ptsUs: au.ptsUs,
      keyframe: au.keyframe,
      sourceSequence: frame.sequence,
      width: this.encoder.outputWidth,
      height: this.encoder.outputHeight,
      qemuReceivedUs: frame.qemuReceivedUs,
      capturedUs: frame.publishedUs,
      encodeStartedUs: started,
      encodedUs: encoded,
      encoderId: this.opts.config.ENCODER_ID,
      epoch: this.opts.epoch,
      sequence: ++this.sequence,
    };
    publishProto(this.opts.nc, subjects.encoded(this.opts.key), EncodedFrame, message);
    this.opts.metrics.framesEncoded.inc({ keyframe: String(au.keyframe) });
    if (this.activatedMs !== undefined) {
      this.opts.metrics.demandStartSeconds.observe((performance.now() - this.activatedMs) / 1000);
      this.activatedMs = undefined;
    }
    this.opts.metrics.bytesOut.inc(au.data.byteLength);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.keyframeTimer);
    clearTimeout(this.controlTimer);
    this.opts.metrics.targetBitrate.remove({ stream: this.streamId });
    // An encode in flight still settles; close() frees the codec after it.
    this.encoder?.close();
    this.encoder = undefined;
  }
}

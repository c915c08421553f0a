import {
  publishProto,
  subjects,
  type Logger,
  type NatsConnection,
  type PublishGate,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { EncoderMetrics } from './metrics.js';
import { OpusEncoder, type OpusPacketOut } from './native.js';

const { OpusPacket } = qemu_webrtc.v1;
/** Chunks waiting for the encoder (QEMU writes ~100 a second): half a second, then the oldest go. */
const MAX_QUEUE = 50;
/** No PCM for this long after sound: the sound ended (QEMU stops writing when its voice idles). */
const END_OF_SOUND_MS = 60;
/** Silence encoded after a sound, so receivers decode a fade to silence rather than conceal a loss. */
const TRAILING_SILENCE_MS = 100;

interface Format {
  bits: number;
  isSigned: boolean;
  isFloat: boolean;
  rate: number;
  channels: number;
  bigEndian: boolean;
}

const sameFormat = (a: Format, b: Format): boolean =>
  a.bits === b.bits &&
  a.isSigned === b.isSigned &&
  a.isFloat === b.isFloat &&
  a.rate === b.rate &&
  a.channels === b.channels &&
  a.bigEndian === b.bigEndian;

export interface AudioEncoderOptions {
  vmId: string;
  encoderId: string;
  bitrate: number;
  nc: NatsConnection;
  gate: PublishGate;
  metrics: EncoderMetrics;
  logger: Logger;
}

/**
 * One VM's audio: AudioChunks in (QEMU's PCM as capture forwarded it), Opus packets out on
 * qw.audio.<vm>.opus. Conversion and encoding run on the thread pool (native OpusEncoder), one call
 * at a time, chunks queued in order meanwhile (bounded). A new format (QEMU's Init) opens a new
 * encoder.
 */
export class AudioEncoder {
  private encoder: OpusEncoder | undefined;
  private format: Format | undefined;
  private readonly queue: qemu_webrtc.v1.AudioChunk[] = [];
  private busy = false;
  private sequence = 0;
  private endTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly logger: Logger;
  lastChunkMs = performance.now();

  constructor(private readonly opts: AudioEncoderOptions) {
    this.logger = opts.logger.child({ audio: opts.vmId });
  }

  push(chunk: qemu_webrtc.v1.AudioChunk): void {
    if (this.closed) return;
    this.lastChunkMs = performance.now();
    if (this.queue.length >= MAX_QUEUE) {
      this.queue.shift();
      this.opts.metrics.audioChunks.inc({ outcome: 'dropped' });
    }
    this.queue.push(chunk);
    clearTimeout(this.endTimer);
    this.endTimer = setTimeout(() => {
      this.endTimer = undefined;
      this.queue.push(SILENCE);
      this.pump();
    }, END_OF_SOUND_MS);
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.closed) return;
    const chunk = this.queue.shift();
    if (chunk === undefined) return;
    this.busy = true;
    void this.encode(chunk)
      .then((packets) => {
        this.publish(packets);
      })
      .catch((error: unknown) => {
        this.opts.metrics.audioChunks.inc({ outcome: 'bad' });
        this.logger.warn({ err: error }, 'audio chunk not encoded');
      })
      .finally(() => {
        this.busy = false;
        if (this.closed) this.encoder?.close();
        else this.pump();
      });
  }

  private async encode(chunk: qemu_webrtc.v1.AudioChunk): Promise<OpusPacketOut[]> {
    if (chunk === SILENCE) return this.encoder ? this.encoder.silence(TRAILING_SILENCE_MS) : [];
    const f = chunk.format;
    const format: Format = {
      bits: f?.bits ?? 0,
      isSigned: f?.isSigned ?? false,
      isFloat: f?.isFloat ?? false,
      rate: f?.rate ?? 0,
      channels: f?.channels ?? 0,
      bigEndian: f?.bigEndian ?? false,
    };
    if (!this.encoder || !this.format || !sameFormat(format, this.format)) {
      this.encoder?.close();
      this.encoder = undefined;
      this.format = undefined;
      this.encoder = new OpusEncoder({ ...format, bitrate: this.opts.bitrate });
      this.format = format;
      this.logger.info({ format, bitrate: this.opts.bitrate }, 'audio encoder opened');
    }
    const packets = await this.encoder.encode(chunk.data, chunk.ptsUs);
    this.opts.metrics.audioChunks.inc({ outcome: 'encoded' });
    return packets;
  }

  private publish(packets: OpusPacketOut[]): void {
    const channels = this.encoder?.channels ?? 2;
    for (const p of packets) {
      if (this.opts.nc.isClosed() || !this.opts.gate.tryAcquire()) return;
      publishProto(this.opts.nc, subjects.audioOpus(this.opts.vmId), OpusPacket, {
        vmId: this.opts.vmId,
        data: p.data,
        ptsUs: p.ptsUs,
        samples: p.samples,
        channels,
        encoderId: this.opts.encoderId,
        sequence: ++this.sequence,
      });
      this.opts.metrics.audioPackets.inc();
      this.opts.metrics.audioBytes.inc(p.data.byteLength);
    }
  }

  /** Safe twice; an encode in flight finishes first (then the native encoder is closed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.endTimer);
    this.queue.length = 0;
    if (!this.busy) this.encoder?.close();
  }
}

/** Marks the end of a sound in the queue. */
const SILENCE = new qemu_webrtc.v1.AudioChunk();

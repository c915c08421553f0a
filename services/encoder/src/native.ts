// Typed loader for the encoder's native addon (native/: libavcodec H.264 encode/decode, swscale
// colour conversion). Everything here runs its heavy work on libuv's thread pool, never on the JS
// thread. Errors have a `name`: TypeError (bad arguments, checked here first by native-args.ts;
// code ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE), BusyError (a call already in flight),
// ClosedError (used after close(); code ERR_CLOSED), EncoderError / DecoderError (FFmpeg failed; the
// message carries FFmpeg's own explanation, the stack is the caller's).
import { createRequire } from 'node:module';

import {
  checkBitrate,
  checkDecodeArgs,
  checkDecoderOptions,
  checkEncodeInput,
  checkEncoderOptions,
  checkFps,
} from './native-args.js';

export type H264Codec = 'libx264' | 'h264_vaapi' | 'h264_nvenc' | 'auto';
export type H264Profile = 'constrained_baseline' | 'main' | 'high';
export type X264Preset =
  'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast' | 'medium' | 'slow' | 'slower' | 'veryslow';
export type InputPixelFormat = 'bgrx' | 'bgra';

export interface H264EncoderOptions {
  /** Input picture size (what encode() is given). 1..8192. */
  width: number;
  height: number;
  /** Encoded (visible) size when it differs from the input: a scaled rendition. */
  outputWidth?: number;
  outputHeight?: number;
  /** Maximum frame rate (1..240): rate control's frame budget and the VBV size. */
  fps: number;
  /** Target and VBV maximum rate, bits per second (10 kbit/s .. 1 Gbit/s). */
  bitrateBps: number;
  /** Default 'libx264'; 'auto' tries h264_nvenc, then h264_vaapi, then libx264. */
  codec?: H264Codec;
  /** Default 'constrained_baseline' (what every WebRTC browser decodes). */
  profile?: H264Profile;
  /** Longest distance between IDRs in frames; default 10 s worth at `fps`. */
  keyintMax?: number;
  /** Encoder threads (sliced: no added latency); 0 (default) = the core count, at most 4. */
  threads?: number;
  /** x264 preset; default 'ultrafast'. */
  preset?: X264Preset;
  /** VAAPI render node, e.g. /dev/dri/renderD128 (default: the first one). */
  vaapiDevice?: string;
  /** VBV buffer in frames at `fps`; default 1.5 (about one frame, for interactive latency). */
  vbvBufferFrames?: number;
}

export interface EncodeInput {
  /** Pixels, row after row, 4 bytes per pixel; kept referenced until the promise settles. */
  data: ArrayBuffer | Uint8Array;
  /** Byte offset of the first row in `data` (default 0). */
  offset?: number;
  /** Bytes per row (>= width * 4). */
  stride: number;
  /** Must equal the encoder's input size (else TypeError: create a new encoder on resize). */
  width: number;
  height: number;
  /** Byte order B, G, R, X/A; alpha is ignored. */
  format: InputPixelFormat;
  /** Presentation time in microseconds; made strictly increasing if it is not. */
  ptsUs: number;
  /** Make this frame an IDR (with SPS/PPS). */
  forceKeyframe?: boolean;
  /**
   * The seqlock of a shared-memory source (a frame ring slot's sequence, 8 bytes at `byteOffset`
   * of `buffer`): read after the colour conversion, and when it is no longer `expected` the frame
   * is discarded, not encoded (the promise resolves with TornRead; a keyframe asked for waits for
   * the next frame).
   */
  seqlock?: { buffer: ArrayBuffer; byteOffset: number; expected: bigint };
}

/** encode() with a seqlock whose sequence changed during the conversion: nothing was encoded. */
export interface TornRead {
  torn: true;
}

export interface EncodedAccessUnit {
  /** One H.264 access unit in Annex B form (start codes); an IDR starts with SPS and PPS. */
  data: Buffer;
  keyframe: boolean;
  ptsUs: number;
}

export interface H264EncoderStats {
  framesIn: number;
  framesOut: number;
  keyframesOut: number;
  /** Frames discarded because their seqlock changed during the conversion. */
  tornIn: number;
  bytesOut: number;
  /** Microseconds spent in colour conversion / in the codec for the last frame. */
  lastConvertUs: number;
  lastEncodeUs: number;
  /** Times the codec was reopened (after flush(), setFps(), or a bitrate change on VAAPI). */
  reopens: number;
}

export interface H264Encoder {
  /** The codec actually in use (libx264 after a hardware fallback). */
  readonly codecName: string;
  /** Why the asked-for hardware codec(s) could not be opened; null when none failed. */
  readonly fallbackReason: string | null;
  readonly width: number;
  readonly height: number;
  /** The visible encoded size (the decoder shows codedWidth x codedHeight, see below). */
  readonly outputWidth: number;
  readonly outputHeight: number;
  /**
   * The size in the bitstream: outputWidth/Height rounded up to even (H.264 4:2:0 cannot signal
   * odd sizes); the extra column/row repeats the edge. Crop to outputWidth x outputHeight.
   */
  readonly codedWidth: number;
  readonly codedHeight: number;
  /** An encode() or flush() is in flight. */
  readonly busy: boolean;
  readonly closed: boolean;
  /**
   * Converts and encodes one frame on a worker thread. Resolves with its access unit (or null if
   * the codec holds it back, which libx264 as configured never does). Rejects with BusyError
   * while another encode()/flush() runs, TypeError for bad input, ClosedError after close().
   */
  encode(
    input: EncodeInput & { seqlock: NonNullable<EncodeInput['seqlock']> },
  ): Promise<EncodedAccessUnit | TornRead | null>;
  encode(input: Omit<EncodeInput, 'seqlock'>): Promise<EncodedAccessUnit | null>;
  /** Drains the codec; the next encode() reopens it and starts with an IDR. */
  flush(): Promise<EncodedAccessUnit[]>;
  /** Applied from the next frame; true when applied without reopening (libx264, NVENC). */
  setBitrate(bitrateBps: number): boolean;
  /** Applied from the next frame by reopening the codec (that frame is an IDR): returns false. */
  setFps(fps: number): boolean;
  /** The next encoded frame is an IDR. */
  requestKeyframe(): void;
  stats(): H264EncoderStats;
  /** Frees everything (after an in-flight call settles). Safe to call twice. */
  close(): void;
}

export interface H264EncoderConstructor {
  /** Opens the codec at once; TypeError for bad options, EncoderError if libx264 fails. */
  new (options: H264EncoderOptions): H264Encoder;
}

export interface DecodedPicture {
  width: number;
  height: number;
  keyframe: boolean;
  ptsUs: number;
  /**
   * 'bgra': packed, width * 4 bytes per row, converted with the stream's signalled matrix and range.
   * 'i420': the decoded planes, rows packed: Y (width x height), then U and V (each
   * ceil(width / 2) x ceil(height / 2)).
   */
  data: Buffer;
  /** As FFmpeg names them: e.g. 'bt709', 'tv'. */
  colorSpace: string;
  colorRange: string;
  colorPrimaries: string;
  colorTransfer: string;
}

export interface H264Decoder {
  /** Decodes one Annex B chunk (copied at once) on a worker thread. */
  decode(data: Uint8Array | ArrayBuffer, ptsUs?: number): Promise<DecodedPicture[]>;
  /** Drains the decoder; it then accepts a new stream. */
  flush(): Promise<DecodedPicture[]>;
  close(): void;
}

export interface H264DecoderOptions {
  /** Default 'bgra'. */
  format?: 'bgra' | 'i420';
  /** Slice threads (0 = auto); default 1. */
  threads?: number;
}

export interface H264DecoderConstructor {
  new (options?: H264DecoderOptions): H264Decoder;
}

export type FfmpegLogLevel = 'quiet' | 'error' | 'warning' | 'info' | 'verbose' | 'debug';

export interface FfmpegLogLine {
  level: 'fatal' | 'error' | 'warning' | 'info' | 'verbose' | 'debug';
  message: string;
}

/** PCM as QEMU's AudioOutListener.Init announces it, and the Opus bitrate. */
export interface OpusEncoderOptions {
  /** 8, 16 or 32 (32 for float). */
  bits: number;
  isSigned: boolean;
  isFloat: boolean;
  /** Input frames per second, 1000..384000. */
  rate: number;
  /** Input channels, 1..8 (encoded as stereo, or mono for mono input). */
  channels: number;
  bigEndian?: boolean;
  /** Bits per second, 6000..510000; default 64000. */
  bitrate?: number;
}

export interface OpusPacketOut {
  data: Buffer;
  /** The packet's first sample, on the clock of the `ptsUs` given to encode(). */
  ptsUs: number;
  /** Samples per channel at 48 kHz (960: 20 ms). */
  samples: number;
}

export interface OpusEncoder {
  /** Channels encoded (1 or 2). */
  readonly channels: number;
  /**
   * Converts (libswresample, to 48 kHz float) and encodes (libopus, 20 ms frames) `pcm` (whole
   * frames of the input format, copied at once) on a worker thread; resolves with the packets
   * completed. Digital silence after 100 ms of it yields no packets.
   */
  encode(pcm: Uint8Array, ptsUs: number): Promise<OpusPacketOut[]>;
  /** The sound stopped: pads with silence to a whole frame plus `ms` of silence, and encodes that. */
  silence(ms: number): Promise<OpusPacketOut[]>;
  close(): void;
}

export interface OpusEncoderConstructor {
  /** TypeError for bad options, EncoderError if libswresample or libopus refuse. */
  new (options: OpusEncoderOptions): OpusEncoder;
}

interface EncoderAddon {
  H264Encoder: H264EncoderConstructor;
  H264Decoder: H264DecoderConstructor;
  OpusEncoder: OpusEncoderConstructor;
  takeLogs(): FfmpegLogLine[];
  setLogLevel(level: FfmpegLogLevel): void;
  versions(): { ffmpeg: string; avcodec: string; avutil: string; swscale: string };
}

const require = createRequire(import.meta.url);
// dist/src/native.js -> native/build/Release/encoder.node
const addon = require('../../native/build/Release/encoder.node') as EncoderAddon;

type EncodeResult = Promise<EncodedAccessUnit | TornRead | null>;

/** An asynchronous call's argument check: its error becomes the rejection. */
function rejection(error: unknown): Promise<never> {
  return Promise.reject(error instanceof Error ? error : new Error(String(error)));
}

/** The addon's encoder, its arguments checked first (a bad encode() input rejects). */
class CheckedH264Encoder extends addon.H264Encoder {
  constructor(options: H264EncoderOptions) {
    super(checkEncoderOptions(options));
  }

  override encode(input: EncodeInput & { seqlock: NonNullable<EncodeInput['seqlock']> }): EncodeResult;
  override encode(input: Omit<EncodeInput, 'seqlock'>): Promise<EncodedAccessUnit | null>;
  override encode(input: EncodeInput): EncodeResult {
    // After close() the addon answers ClosedError whatever the input.
    if (!this.closed) {
      try {
        checkEncodeInput(input, this.width, this.height);
      } catch (error) {
        return rejection(error);
      }
    }
    return super.encode(input);
  }

  override setBitrate(bitrateBps: number): boolean {
    return super.setBitrate(this.closed ? bitrateBps : checkBitrate(bitrateBps));
  }

  override setFps(fps: number): boolean {
    return super.setFps(this.closed ? fps : checkFps(fps));
  }
}

/** The addon's decoder, its arguments checked first. */
class CheckedH264Decoder extends addon.H264Decoder {
  constructor(options?: H264DecoderOptions) {
    super(checkDecoderOptions(options));
  }

  override decode(data: Uint8Array | ArrayBuffer, ptsUs?: number): Promise<DecodedPicture[]> {
    try {
      checkDecodeArgs(data, ptsUs);
    } catch (error) {
      return rejection(error);
    }
    return super.decode(data, ptsUs);
  }
}

export const H264Encoder: H264EncoderConstructor = CheckedH264Encoder;
export const H264Decoder: H264DecoderConstructor = CheckedH264Decoder;
/** Arguments are checked by the addon itself (a few numbers and one buffer). */
export const OpusEncoder: OpusEncoderConstructor = addon.OpusEncoder;

/**
 * FFmpeg's (and x264's) log lines since the last call, at or above setFfmpegLogLevel() (default
 * 'warning'). Native code never prints: the service polls this and logs through pino.
 */
export function takeFfmpegLogs(): FfmpegLogLine[] {
  return addon.takeLogs();
}

export function setFfmpegLogLevel(level: FfmpegLogLevel): void {
  addon.setLogLevel(level);
}

export function ffmpegVersions(): { ffmpeg: string; avcodec: string; avutil: string; swscale: string } {
  return addon.versions();
}

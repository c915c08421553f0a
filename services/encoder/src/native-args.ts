// Argument checks for the encoder addon's classes (native.ts), with the native kit's `check`:
// bad arguments throw TypeError (ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE) with a message
// naming the field. The addon re-reads every value (its reads guard memory), so these only make
// the errors clear and early.
import { check, invalidArgValue, is } from '@qemu-webrtc/native-kit';

import type { EncodeInput, H264DecoderOptions, H264EncoderOptions } from './native.js';

const MAX_DIMENSION = 8192;
const CODECS = ['libx264', 'h264_vaapi', 'h264_nvenc', 'auto'] as const;
const PROFILES = ['constrained_baseline', 'main', 'high'] as const;
const PRESETS = [
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
  'slower',
  'veryslow',
] as const;

export function checkEncoderOptions(options: H264EncoderOptions): H264EncoderOptions {
  const at = (key: string) => `H264Encoder: options.${key}`;
  check.object(options, 'H264Encoder: options');
  check.integer(options.width, at('width'), 1, MAX_DIMENSION);
  check.integer(options.height, at('height'), 1, MAX_DIMENSION);
  if (is.defined(options.outputWidth))
    check.integer(options.outputWidth, at('outputWidth'), 1, MAX_DIMENSION);
  if (is.defined(options.outputHeight))
    check.integer(options.outputHeight, at('outputHeight'), 1, MAX_DIMENSION);
  check.number(options.fps, at('fps'), 1, 240);
  check.integer(options.bitrateBps, at('bitrateBps'), 10_000, 1e9);
  if (is.defined(options.codec)) check.oneOf(options.codec, at('codec'), CODECS);
  if (is.defined(options.profile)) check.oneOf(options.profile, at('profile'), PROFILES);
  if (is.defined(options.keyintMax)) check.integer(options.keyintMax, at('keyintMax'), 1, 100_000);
  if (is.defined(options.threads)) check.integer(options.threads, at('threads'), 0, 16);
  if (is.defined(options.preset)) check.oneOf(options.preset, at('preset'), PRESETS);
  if (is.defined(options.vaapiDevice)) check.string(options.vaapiDevice, at('vaapiDevice'));
  if (is.defined(options.vbvBufferFrames))
    check.number(options.vbvBufferFrames, at('vbvBufferFrames'), 0.5, 60);
  return options;
}

/** encode()'s input for an encoder taking width x height pictures. */
export function checkEncodeInput(input: EncodeInput, width: number, height: number): void {
  const at = (key: string) => `H264Encoder.encode: input.${key}`;
  check.object(input, 'H264Encoder.encode: input');
  check.bytes(input.data, at('data'));
  check.integer(input.width, at('width'), 1, 65535);
  check.integer(input.height, at('height'), 1, 65535);
  check.integer(input.stride, at('stride'), 1, 2 ** 30);
  const offset = input.offset ?? 0;
  check.integer(offset, at('offset'), 0, Number.MAX_SAFE_INTEGER);
  check.number(input.ptsUs, at('ptsUs'), -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  check.oneOf(input.format, at('format'), ['bgrx', 'bgra']);
  if (input.forceKeyframe !== undefined) check.bool(input.forceKeyframe, at('forceKeyframe'));
  if (input.width !== width || input.height !== height) {
    throw invalidArgValue(
      'H264Encoder.encode: input size',
      `the encoder's ${width}x${height} (create a new encoder on resize)`,
      `${input.width}x${input.height}`,
    );
  }
  if (input.stride < input.width * 4) throw invalidArgValue(at('stride'), 'at least width * 4', input.stride);
  const needed = offset + input.stride * (input.height - 1) + input.width * 4;
  if (needed > input.data.byteLength) {
    throw invalidArgValue(
      at('data'),
      `${needed} bytes long for the picture it holds`,
      `${input.data.byteLength} bytes`,
    );
  }
  if (input.seqlock !== undefined) checkSeqlock(input.seqlock);
}

function checkSeqlock(seqlock: NonNullable<EncodeInput['seqlock']>): void {
  const at = (key: string) => `H264Encoder.encode: input.seqlock.${key}`;
  check.object(seqlock, 'H264Encoder.encode: input.seqlock');
  if (!(seqlock.buffer instanceof ArrayBuffer))
    throw invalidArgValue(at('buffer'), 'an ArrayBuffer', seqlock.buffer);
  if (!is.bigint(seqlock.expected)) throw invalidArgValue(at('expected'), 'a bigint', seqlock.expected);
  check.integer(seqlock.byteOffset, at('byteOffset'), 0, seqlock.buffer.byteLength - 8);
  if (seqlock.byteOffset % 8 !== 0)
    throw invalidArgValue(at('byteOffset'), 'a multiple of 8', seqlock.byteOffset);
}

export function checkBitrate(bps: number): number {
  return check.integer(bps, 'H264Encoder.setBitrate: bps', 10_000, 1e9);
}

export function checkFps(fps: number): number {
  return check.number(fps, 'H264Encoder.setFps: fps', 1, 240);
}

export function checkDecoderOptions(options: H264DecoderOptions | undefined): H264DecoderOptions | undefined {
  if (options === undefined) return options;
  check.object(options, 'H264Decoder: options');
  if (options.format !== undefined)
    check.oneOf(options.format, 'H264Decoder: options.format', ['bgra', 'i420']);
  if (options.threads !== undefined) check.integer(options.threads, 'H264Decoder: options.threads', 0, 16);
  return options;
}

/** decode()'s arguments. */
export function checkDecodeArgs(data: Uint8Array | ArrayBuffer, ptsUs: number | undefined): void {
  check.bytes(data, 'H264Decoder.decode: data');
  if (ptsUs !== undefined) {
    check.number(ptsUs, 'H264Decoder.decode: ptsUs', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  }
}

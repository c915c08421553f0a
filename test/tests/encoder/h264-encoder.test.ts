// H264Encoder with real libx264: what comes out is what a browser would decode. Pictures are
// checked by decoding (the addon's H264Decoder, and the ffmpeg CLI as an independent decoder) and
// comparing with the source (PSNR). No timing is asserted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { yuv709 } from '@qemu-webrtc/test-kit';

import {
  H264Decoder,
  H264Encoder,
  takeFfmpegLogs,
  type DecodedPicture,
  type EncodedAccessUnit,
  type EncodeInput,
  type H264EncoderOptions,
} from '@qemu-webrtc/encoder/native';
import { nalTypes } from './annex-b.js';

// This file, compiled or (with --enable-source-maps) as source.
const thisFile = /h264-encoder\.test\.[jt]s:\d+/;

/** A BGRX picture with gradients and saturated blocks that move with `t`. */
function picture(width: number, height: number, t: number, stride = width * 4, offset = 0): Buffer {
  const buf = Buffer.alloc(offset + stride * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = offset + y * stride + x * 4;
      let r = Math.round((x * 255) / Math.max(1, width - 1));
      let g = Math.round((y * 255) / Math.max(1, height - 1));
      let b = (x + y + t * 8) & 255;
      const block = (Math.floor((x + t * 4) / 64) + Math.floor(y / 64)) % 4;
      if (block === 0) [r, g, b] = [220, 40, 40];
      else if (block === 2) [r, g, b] = [30, 190, 60];
      buf[i] = b;
      buf[i + 1] = g;
      buf[i + 2] = r;
      buf[i + 3] = 0xff;
    }
  }
  return buf;
}

function input(width: number, height: number, t: number, extra: Partial<EncodeInput> = {}): EncodeInput {
  return {
    data: picture(width, height, t),
    stride: width * 4,
    width,
    height,
    format: 'bgrx',
    ptsUs: t * 33_333,
    ...extra,
  };
}

/** PSNR over B, G and R of the top-left width x height of two 4-byte-per-pixel pictures. */
function psnr(a: Uint8Array, aStride: number, b: Uint8Array, bStride: number, width: number, height: number) {
  let sum = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const d = (a[y * aStride + x * 4 + c] ?? 0) - (b[y * bStride + x * 4 + c] ?? 0);
        sum += d * d;
      }
    }
  }
  const mse = sum / (width * height * 3);
  return mse === 0 ? 99 : 10 * Math.log10((255 * 255) / mse);
}

/** BT.709 limited-range luma of a BGRX pixel: what the encoder's Y plane should hold. */
function luma709(b: number, g: number, r: number): number {
  return yuv709(r, g, b)[0];
}

/**
 * PSNR of a Y plane (`yStride` bytes per row) against the BT.709 limited-range luma of the
 * top-left width x height of a BGRX picture.
 */
function lumaPsnr(
  y: Uint8Array,
  yStride: number,
  source: Uint8Array,
  stride: number,
  width: number,
  height: number,
) {
  let sum = 0;
  for (let row = 0; row < height; row++) {
    for (let x = 0; x < width; x++) {
      const i = row * stride + x * 4;
      const d = (y[row * yStride + x] ?? 0) - luma709(source[i] ?? 0, source[i + 1] ?? 0, source[i + 2] ?? 0);
      sum += d * d;
    }
  }
  return 10 * Math.log10((255 * 255) / Math.max(1e-9, sum / (width * height)));
}

/** NAL unit types of an Annex B access unit (asserting it is Annex B). */
function checkedNalTypes(au: Uint8Array): number[] {
  assert.ok(
    au[0] === 0 && au[1] === 0 && (au[2] === 1 || (au[2] === 0 && au[3] === 1)),
    'Annex B start code',
  );
  return nalTypes(au);
}

/** profile_idc, constraint flags and level_idc of the first SPS in an access unit. */
function spsHeader(au: Uint8Array): { profileIdc: number; constraints: number; levelIdc: number } {
  for (let i = 0; i + 6 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1 && ((au[i + 3] ?? 0) & 0x1f) === 7) {
      return { profileIdc: au[i + 4] ?? 0, constraints: au[i + 5] ?? 0, levelIdc: au[i + 6] ?? 0 };
    }
  }
  throw new Error('no SPS');
}

async function encodeFrames(
  encoder: H264Encoder,
  width: number,
  height: number,
  from: number,
  count: number,
): Promise<{ aus: EncodedAccessUnit[]; sources: Buffer[] }> {
  const aus: EncodedAccessUnit[] = [];
  const sources: Buffer[] = [];
  for (let t = from; t < from + count; t++) {
    const frame = input(width, height, t);
    const au = await encoder.encode(frame);
    assert.ok(au, `frame ${t} produced an access unit at once (zero latency)`);
    aus.push(au);
    sources.push(frame.data as Buffer);
  }
  return { aus, sources };
}

async function decodeAll(
  aus: EncodedAccessUnit[],
  format: 'bgra' | 'i420' = 'i420',
): Promise<DecodedPicture[]> {
  const decoder = new H264Decoder({ format });
  const pictures: DecodedPicture[] = [];
  try {
    for (const au of aus) pictures.push(...(await decoder.decode(au.data, au.ptsUs)));
    pictures.push(...(await decoder.flush()));
  } finally {
    decoder.close();
  }
  return pictures;
}

function run(command: string, args: string[], stdin: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${command} exited with ${code}: ${err}`));
    });
    child.stdin.end(stdin);
  });
}

/** Width and height ffprobe reads from an H.264 elementary stream. */
async function probeSize(stream: Buffer): Promise<{ width: number; height: number }> {
  const out = await run(
    'ffprobe',
    ['-v', 'error', '-f', 'h264', '-i', 'pipe:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0'],
    stream,
  );
  const [width, height] = out.toString().trim().split(',').map(Number);
  return { width: width ?? 0, height: height ?? 0 };
}

const opts720: H264EncoderOptions = { width: 1280, height: 720, fps: 30, bitrateBps: 8_000_000 };

describe('H264Encoder (libx264)', () => {
  test('1280x720: the first access unit is an IDR with SPS/PPS, and the pictures decode at >= 35 dB', async () => {
    const encoder = new H264Encoder(opts720);
    try {
      assert.equal(encoder.codecName, 'libx264');
      assert.equal(encoder.fallbackReason, null);
      const { aus, sources } = await encodeFrames(encoder, 1280, 720, 0, 6);

      const first = aus[0];
      assert.ok(first);
      assert.equal(first.keyframe, true);
      const types = checkedNalTypes(first.data);
      for (const t of [7, 8, 5])
        assert.ok(types.includes(t), `NAL ${t} in the first AU (got ${types.join(',')})`);
      assert.ok(
        types.indexOf(7) < types.indexOf(5) && types.indexOf(8) < types.indexOf(5),
        'SPS/PPS precede the IDR',
      );
      // Constrained baseline (profile_idc 66 with constraint_set1), level 3.1 for 720p30.
      assert.deepEqual(spsHeader(first.data), { profileIdc: 66, constraints: 0xc0, levelIdc: 31 });
      assert.deepEqual(
        aus.map((au) => au.ptsUs),
        [0, 1, 2, 3, 4, 5].map((t) => t * 33_333),
      );

      const pictures = await decodeAll(aus, 'i420');
      assert.equal(pictures.length, sources.length);
      pictures.forEach((p, i) => {
        assert.equal(p.width, 1280);
        assert.equal(p.height, 720);
        // VUI: BT.709 primaries, transfer and matrix, limited (TV) range.
        assert.deepEqual(
          [p.colorPrimaries, p.colorTransfer, p.colorSpace, p.colorRange],
          ['bt709', 'bt709', 'bt709', 'tv'],
        );
        const source = sources[i];
        assert.ok(source);
        const db = lumaPsnr(p.data, 1280, source, 1280 * 4, 1280, 720);
        assert.ok(db >= 35, `frame ${i}: luma PSNR ${db.toFixed(1)} dB`);
      });
      // In RGB the saturated block edges lose to 4:2:0 chroma (about 28 dB here, and 34 dB even
      // for ideal 4:2:0 chroma): this only proves the colours are the right ones.
      const rgb = await decodeAll(aus, 'bgra');
      rgb.forEach((p, i) => {
        const db = psnr(p.data, 1280 * 4, sources[i] ?? Buffer.alloc(0), 1280 * 4, 1280, 720);
        assert.ok(db >= 25, `frame ${i}: RGB PSNR ${db.toFixed(1)} dB`);
      });
    } finally {
      encoder.close();
    }
  });

  test('ffmpeg decodes the stream too, and its luma is the BT.709 limited-range luma of the source', async () => {
    const encoder = new H264Encoder(opts720);
    const { aus, sources } = await encodeFrames(encoder, 1280, 720, 0, 3);
    encoder.close();
    const yuv = await run(
      'ffmpeg',
      ['-v', 'error', '-f', 'h264', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'],
      Buffer.concat(aus.map((au) => au.data)),
    );
    const frameSize = (1280 * 720 * 3) / 2;
    assert.equal(yuv.length, frameSize * 3);
    sources.forEach((source, f) => {
      let sum = 0;
      for (let i = 0; i < 1280 * 720; i++) {
        const b = source[i * 4] ?? 0;
        const g = source[i * 4 + 1] ?? 0;
        const r = source[i * 4 + 2] ?? 0;
        const d = (yuv[f * frameSize + i] ?? 0) - luma709(b, g, r);
        sum += d * d;
      }
      const db = 10 * Math.log10((255 * 255) / (sum / (1280 * 720)));
      assert.ok(db >= 35, `frame ${f}: luma PSNR against BT.709 ${db.toFixed(1)} dB`);
    });
  });

  test('requestKeyframe() and forceKeyframe make the next frame an IDR; other frames are not', async () => {
    const encoder = new H264Encoder({ ...opts720, bitrateBps: 4_000_000 });
    try {
      const results: EncodedAccessUnit[] = [];
      for (let t = 0; t < 7; t++) {
        if (t === 3) encoder.requestKeyframe();
        const au = await encoder.encode(input(1280, 720, t, { forceKeyframe: t === 5 }));
        assert.ok(au);
        results.push(au);
      }
      const idr = results.map((au) => checkedNalTypes(au.data).includes(5));
      assert.deepEqual(idr, [true, false, false, true, false, true, false]);
      assert.deepEqual(
        results.map((au) => au.keyframe),
        idr,
      );
      for (const i of [3, 5]) {
        const types = checkedNalTypes(results[i]?.data ?? new Uint8Array());
        assert.ok(types.includes(7) && types.includes(8), `SPS/PPS repeated before IDR ${i}`);
      }
      for (const i of [1, 2, 4, 6])
        assert.ok(checkedNalTypes(results[i]?.data ?? new Uint8Array()).includes(1));
      assert.equal(encoder.stats().keyframesOut, 3);
    } finally {
      encoder.close();
    }
  });

  test('1023x767 is coded as 1024x768 with the edge repeated, and the visible 1023x767 matches', async () => {
    const encoder = new H264Encoder({ width: 1023, height: 767, fps: 30, bitrateBps: 8_000_000 });
    try {
      assert.deepEqual(
        [encoder.outputWidth, encoder.outputHeight, encoder.codedWidth, encoder.codedHeight],
        [1023, 767, 1024, 768],
      );
      const { aus, sources } = await encodeFrames(encoder, 1023, 767, 0, 3);
      // 4:2:0 frame cropping counts in 2-pixel units: no H.264 4:2:0 stream is 1023 wide.
      assert.deepEqual(await probeSize(Buffer.concat(aus.map((au) => au.data))), {
        width: 1024,
        height: 768,
      });
      const pictures = await decodeAll(aus);
      assert.equal(pictures.length, 3);
      pictures.forEach((p, i) => {
        assert.equal(p.width, 1024);
        assert.equal(p.height, 768);
        const source = sources[i];
        assert.ok(source);
        const db = lumaPsnr(p.data, 1024, source, 1023 * 4, 1023, 767);
        assert.ok(db >= 35, `frame ${i}: luma PSNR ${db.toFixed(1)} dB over the visible 1023x767`);
        // The padding repeats the last column and row (up to coding noise).
        let column = 0;
        for (let y = 0; y < 767; y++)
          column += Math.abs((p.data[y * 1024 + 1023] ?? 0) - (p.data[y * 1024 + 1022] ?? 0));
        let row = 0;
        for (let x = 0; x < 1023; x++)
          row += Math.abs((p.data[767 * 1024 + x] ?? 0) - (p.data[766 * 1024 + x] ?? 0));
        assert.ok(
          column / 767 < 3 && row / 1023 < 3,
          `padding differs from the edge by ${column / 767}, ${row / 1023}`,
        );
      });
    } finally {
      encoder.close();
    }
  });

  test('1023x767: the last column keeps its own colour (the conversion reads no pixel past a row)', async () => {
    const encoder = new H264Encoder({ width: 1023, height: 767, fps: 30, bitrateBps: 20_000_000 });
    try {
      const { aus, sources } = await encodeFrames(encoder, 1023, 767, 0, 1);
      const [p] = await decodeAll(aus);
      const source = sources[0];
      assert.ok(p && source);
      const cw = 512;
      const px = (x: number, y: number): [number, number, number] => {
        const i = Math.min(y, 766) * 1023 * 4 + Math.min(x, 1022) * 4;
        return yuv709(source[i + 2] ?? 0, source[i + 1] ?? 0, source[i] ?? 0);
      };
      // Mean |U| + |V| difference down chroma column i against the mean of its two source columns
      // (the edge repeated past 1023), from the nearer of the two rows of each pair.
      const columnError = (i: number): number => {
        let sum = 0;
        for (let j = 0; j < 384; j++) {
          const u = p.data[1024 * 768 + j * cw + i] ?? 0;
          const v = p.data[1024 * 768 + cw * 384 + j * cw + i] ?? 0;
          sum += Math.min(
            ...[2 * j, 2 * j + 1].map((y) => {
              const [a, b] = [px(2 * i, y), px(2 * i + 1, y)];
              return Math.abs(u - (a[1] + b[1]) / 2) + Math.abs(v - (a[2] + b[2]) / 2);
            }),
          );
        }
        return sum / 384;
      };
      const last = columnError(511);
      const inner = columnError(400);
      assert.ok(
        last <= 6 && inner <= 6,
        `chroma |U|+|V| error: last column ${last.toFixed(1)}, column 800 ${inner.toFixed(1)}`,
      );
    } finally {
      encoder.close();
    }
  });

  test('scaled from an odd width (1023x767 -> 512x384): no colour from past the row end', async () => {
    // Grey everywhere but a red first column: the right edge must stay grey (swscale's pair-wise
    // chroma input would average in the next row's red first pixel).
    const encoder = new H264Encoder({
      width: 1023,
      height: 767,
      outputWidth: 512,
      outputHeight: 384,
      fps: 30,
      bitrateBps: 8_000_000,
    });
    try {
      const data = Buffer.alloc(1023 * 767 * 4, 128);
      for (let y = 0; y < 767; y++) data.set([0, 0, 255, 255], y * 1023 * 4);
      const au = await encoder.encode({
        data,
        stride: 1023 * 4,
        width: 1023,
        height: 767,
        format: 'bgrx',
        ptsUs: 0,
      });
      assert.ok(au);
      const [p] = await decodeAll([au]);
      assert.ok(p);
      const cw = 256;
      let off = 0;
      for (let j = 0; j < 192; j++) {
        off += Math.abs((p.data[512 * 384 + j * cw + cw - 1] ?? 0) - 128);
        off += Math.abs((p.data[512 * 384 + cw * 192 + j * cw + cw - 1] ?? 0) - 128);
      }
      assert.ok(off / 192 <= 2, `the last chroma column is off grey by ${(off / 192).toFixed(1)} (|U|+|V|)`);
    } finally {
      encoder.close();
    }
  });

  test('a scaled rendition: 1280x720 in, 640x360 out', async () => {
    const encoder = new H264Encoder({
      ...opts720,
      outputWidth: 640,
      outputHeight: 360,
      bitrateBps: 2_000_000,
    });
    try {
      assert.deepEqual([encoder.codedWidth, encoder.codedHeight], [640, 360]);
      const { aus, sources } = await encodeFrames(encoder, 1280, 720, 0, 3);
      const pictures = await decodeAll(aus);
      assert.equal(pictures.length, 3);
      const last = pictures[2];
      const source = sources[2];
      assert.ok(last && source);
      assert.deepEqual([last.width, last.height], [640, 360]);
      // Against a 2x2 box downscale of the source (luma).
      const reference = Buffer.alloc(640 * 360 * 4);
      for (let y = 0; y < 360; y++) {
        for (let x = 0; x < 640; x++) {
          for (let c = 0; c < 3; c++) {
            const at = (yy: number, xx: number) => source[yy * 1280 * 4 + xx * 4 + c] ?? 0;
            reference[(y * 640 + x) * 4 + c] = Math.round(
              (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4,
            );
          }
        }
      }
      const db = lumaPsnr(last.data, 640, reference, 640 * 4, 640, 360);
      assert.ok(db >= 30, `luma PSNR ${db.toFixed(1)} dB against a box downscale`);
    } finally {
      encoder.close();
    }
  });

  test('1920x1080 at 60 fps signals level 4.2', async () => {
    const encoder = new H264Encoder({ width: 1920, height: 1080, fps: 60, bitrateBps: 8_000_000 });
    try {
      const au = await encoder.encode(input(1920, 1080, 0));
      assert.ok(au);
      assert.equal(spsHeader(au.data).levelIdc, 42);
    } finally {
      encoder.close();
    }
  });

  test('stride, offset and BGRA input give the same picture', async () => {
    const encoder = new H264Encoder({ ...opts720, width: 640, height: 360 });
    try {
      const stride = 640 * 4 + 256;
      const data = picture(640, 360, 0, stride, 100);
      for (let y = 0; y < 360; y++) for (let x = 0; x < 640; x++) data[100 + y * stride + x * 4 + 3] = 0;
      const au = await encoder.encode({
        data,
        offset: 100,
        stride,
        width: 640,
        height: 360,
        format: 'bgra',
        ptsUs: 0,
      });
      assert.ok(au);
      const [decoded] = await decodeAll([au]);
      assert.ok(decoded);
      const db = lumaPsnr(decoded.data, 640, data.subarray(100), stride, 640, 360);
      assert.ok(db >= 35, `luma PSNR ${db.toFixed(1)} dB`);
      // A view on a SharedArrayBuffer (how a shared-memory ring may hand frames over).
      const shared = new Uint8Array(new SharedArrayBuffer(data.length));
      shared.set(data);
      const fromShared = await encoder.encode({
        data: shared.subarray(100),
        stride,
        width: 640,
        height: 360,
        format: 'bgra',
        ptsUs: 1,
      });
      assert.ok(fromShared);
      // A plain ArrayBuffer is accepted too.
      const packed = picture(640, 360, 1);
      const ab = new Uint8Array(packed).buffer;
      assert.ok(
        await encoder.encode({
          data: ab,
          stride: 640 * 4,
          width: 640,
          height: 360,
          format: 'bgrx',
          ptsUs: 1,
        }),
      );
    } finally {
      encoder.close();
    }
  });

  test('setBitrate applies without reopening; setFps reopens with an IDR; flush drains', async () => {
    const encoder = new H264Encoder({ ...opts720, width: 640, height: 360, bitrateBps: 6_000_000 });
    try {
      const high = await encodeFrames(encoder, 640, 360, 0, 20);
      assert.equal(encoder.setBitrate(300_000), true);
      const low = await encodeFrames(encoder, 640, 360, 20, 20);
      const tail = (aus: EncodedAccessUnit[]) => aus.slice(-10).reduce((n, au) => n + au.data.length, 0);
      assert.ok(
        tail(low.aus) < tail(high.aus) / 2,
        `frames got smaller (${tail(high.aus)} -> ${tail(low.aus)} bytes)`,
      );
      assert.ok(
        low.aus.every((au) => !au.keyframe),
        'no IDR from a bitrate change',
      );
      assert.equal(encoder.stats().reopens, 0);

      assert.equal(encoder.setFps(15), false);
      const [afterFps] = (await encodeFrames(encoder, 640, 360, 40, 1)).aus;
      assert.equal(afterFps?.keyframe, true);
      assert.equal(encoder.stats().reopens, 1);

      assert.deepEqual(await encoder.flush(), []);
      const [afterFlush] = (await encodeFrames(encoder, 640, 360, 41, 1)).aus;
      assert.equal(afterFlush?.keyframe, true);
      const stats = encoder.stats();
      assert.equal(stats.framesIn, 42);
      assert.equal(stats.framesOut, 42);
      assert.ok(stats.lastEncodeUs > 0 && stats.lastConvertUs > 0);
    } finally {
      encoder.close();
    }
  });

  test('asking for h264_vaapi or h264_nvenc here falls back to libx264 with a reason', async () => {
    for (const codec of ['h264_vaapi', 'h264_nvenc', 'auto'] as const) {
      const encoder = new H264Encoder({ ...opts720, width: 320, height: 240, codec });
      try {
        assert.equal(encoder.codecName, 'libx264', codec);
        assert.equal(typeof encoder.fallbackReason, 'string');
        if (codec !== 'auto') assert.match(encoder.fallbackReason ?? '', new RegExp(`^${codec}`));
        assert.ok(await encoder.encode(input(320, 240, 0)));
      } finally {
        encoder.close();
      }
    }
    takeFfmpegLogs();
  });
});

describe('H264Encoder seqlock (frames read from a ring)', () => {
  test('a sequence that changed by the end of the conversion discards the frame; a forced keyframe waits for the next', async () => {
    const encoder = new H264Encoder({ ...opts720, width: 320, height: 240 });
    try {
      const lock = new BigUint64Array(2);
      lock[1] = 7n;
      const seqlock = { buffer: lock.buffer, byteOffset: 8, expected: 7n };
      const first = await encoder.encode({ ...input(320, 240, 0), seqlock });
      assert.ok(first && !('torn' in first) && first.keyframe, 'an unchanged sequence encodes');
      // The writer moved on (the slot now holds frame 8, or is being written: 0).
      for (const now of [8n, 0n]) {
        lock[1] = now;
        const torn = await encoder.encode({ ...input(320, 240, 1), forceKeyframe: true, seqlock });
        assert.deepEqual(torn, { torn: true });
      }
      encoder.requestKeyframe();
      lock[1] = 9n;
      assert.deepEqual(await encoder.encode({ ...input(320, 240, 2), seqlock }), { torn: true });
      const next = await encoder.encode({ ...input(320, 240, 3), seqlock: { ...seqlock, expected: 9n } });
      assert.ok(next && !('torn' in next));
      assert.equal(
        next.keyframe,
        true,
        'the keyframe requested before the torn frame comes with the next one',
      );
      const stats = encoder.stats();
      assert.equal(stats.tornIn, 3);
      assert.equal(stats.framesOut, 2, 'torn frames never reached the codec');
      assert.equal(stats.keyframesOut, 2);
    } finally {
      encoder.close();
    }
  });

  test('a bad seqlock is a TypeError', async () => {
    const encoder = new H264Encoder({ ...opts720, width: 320, height: 240 });
    try {
      const buffer = new ArrayBuffer(16);
      for (const seqlock of [
        null,
        { buffer, byteOffset: 4, expected: 1n },
        { buffer, byteOffset: 16, expected: 1n },
        { buffer, byteOffset: 0, expected: 1 },
        { buffer: new Uint8Array(buffer), byteOffset: 0, expected: 1n },
      ]) {
        await assert.rejects(
          encoder.encode({ ...input(320, 240, 0), seqlock } as unknown as EncodeInput),
          { name: 'TypeError' },
          JSON.stringify(seqlock, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)),
        );
      }
    } finally {
      encoder.close();
    }
  });
});

describe('H264Encoder errors', () => {
  test('absurd options are TypeErrors at construction', () => {
    const bad: unknown[] = [
      undefined,
      { ...opts720, width: 0 },
      { ...opts720, height: 1.5 },
      { ...opts720, bitrateBps: -1 },
      { ...opts720, fps: 0 },
      { ...opts720, fps: Number.NaN },
      { ...opts720, codec: 'h265' },
      { ...opts720, profile: 'extended' },
      { ...opts720, preset: 'warp' },
      { ...opts720, threads: -1 },
      { ...opts720, outputWidth: 0 },
      { width: 1280, height: 720 },
    ];
    for (const options of bad) {
      assert.throws(
        () => new H264Encoder(options as H264EncoderOptions),
        (e: unknown) => e instanceof TypeError,
        JSON.stringify(options),
      );
    }
  });

  test('bad input is a TypeError; a second call in flight is a BusyError; the stack is the caller’s', async () => {
    const encoder = new H264Encoder({ ...opts720, width: 320, height: 240 });
    try {
      const isType = (e: unknown) => e instanceof TypeError;
      await assert.rejects(encoder.encode(input(640, 480, 0)), isType);
      await assert.rejects(encoder.encode(input(320, 240, 0, { stride: 320 * 4 - 4 })), isType);
      await assert.rejects(encoder.encode(input(320, 240, 0, { data: Buffer.alloc(100) })), isType);
      await assert.rejects(encoder.encode(input(320, 240, 0, { format: 'rgba' as 'bgra' })), isType);
      await assert.rejects(encoder.encode(input(320, 240, 0, { ptsUs: Number.NaN })), isType);
      await assert.rejects(encoder.encode(null as unknown as EncodeInput), isType);

      const first = encoder.encode(input(320, 240, 1));
      assert.equal(encoder.busy, true);
      await assert.rejects(encoder.encode(input(320, 240, 2)), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.equal(e.name, 'BusyError');
        assert.ok(thisFile.test(e.stack ?? ''), e.stack);
        return true;
      });
      await assert.rejects(encoder.flush(), { name: 'BusyError' });
      assert.ok(await first);
      assert.equal(encoder.busy, false);
      assert.throws(() => encoder.setBitrate(-1), TypeError);
      assert.throws(() => encoder.setFps(0), TypeError);
    } finally {
      encoder.close();
    }
  });

  test('after close(): ClosedError everywhere; close() twice is fine; an encode in flight still settles', async () => {
    const encoder = new H264Encoder({ ...opts720, width: 320, height: 240 });
    const inFlight = encoder.encode(input(320, 240, 0));
    encoder.close();
    encoder.close();
    assert.equal(encoder.closed, true);
    assert.ok(await inFlight);
    await assert.rejects(encoder.encode(input(320, 240, 1)), { name: 'ClosedError' });
    await assert.rejects(encoder.flush(), { name: 'ClosedError' });
    assert.throws(() => encoder.requestKeyframe(), { name: 'ClosedError' });
    assert.throws(() => encoder.setBitrate(1_000_000), { name: 'ClosedError' });
    assert.throws(() => encoder.stats(), { name: 'ClosedError' });
  });

  test('native code prints nothing, even while probing hardware that is not there', async () => {
    const script = `
      import { H264Encoder, takeFfmpegLogs } from ${JSON.stringify(import.meta.resolve('@qemu-webrtc/encoder/native'))};
      for (const codec of ['auto', 'h264_vaapi', 'h264_nvenc', 'libx264']) {
        const e = new H264Encoder({ width: 64, height: 64, fps: 30, bitrateBps: 100000, codec });
        const data = Buffer.alloc(64 * 64 * 4);
        await e.encode({ data, stride: 256, width: 64, height: 64, format: 'bgrx', ptsUs: 0 });
        e.close();
      }
      takeFfmpegLogs();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, output);
    assert.equal(output, '');
  });
});

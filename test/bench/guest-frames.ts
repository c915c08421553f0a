// Shared by the benchmarks: the encoder addon (@qemu-webrtc/encoder/addon, loaded as
// services/encoder/src/native.ts does; only what the benchmarks use is typed) and frames drawn like
// the test guest's pattern.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Size {
  readonly width: number;
  readonly height: number;
}

export interface AddonEncoder {
  readonly codecName: string;
  encode(input: {
    data: Uint8Array;
    stride: number;
    width: number;
    height: number;
    format: 'bgrx';
    ptsUs: number;
    forceKeyframe?: boolean;
  }): Promise<{ data: Buffer; keyframe: boolean; ptsUs: number } | null>;
  close(): void;
}
export interface EncoderAddon {
  H264Encoder: new (options: {
    width: number;
    height: number;
    fps: number;
    bitrateBps: number;
    codec: 'libx264';
    preset: 'ultrafast';
    profile: 'constrained_baseline';
    keyintMax: number;
    vbvBufferFrames: number;
  }) => AddonEncoder;
}

export function loadAddon(): EncoderAddon {
  const path = fileURLToPath(import.meta.resolve('@qemu-webrtc/encoder/addon'));
  if (!existsSync(path)) throw new Error(`${path} is missing: build @qemu-webrtc/encoder first`);
  return createRequire(import.meta.url)(path) as EncoderAddon;
}

// --- frames: the test guest's pattern (packages/demo-vm/guest/draw.c) ---

const TEX_N = 8192;
const MAX_W = 2560;

function hash32(v: number): number {
  let x = v >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** One row of rainbow, dark stripes every 64 texels, per-texel noise; 0x00RRGGBB (bytes B,G,R,X). */
function texture(): Uint32Array {
  const tex = new Uint32Array(TEX_N + MAX_W);
  for (let i = 0; i < TEX_N; i++) {
    const h = Math.floor((i * 6 * 256) / TEX_N) % (6 * 256);
    const seg = h >> 8;
    const f = h & 0xff;
    let [r, g, b] =
      seg === 0
        ? [255, f, 0]
        : seg === 1
          ? [255 - f, 255, 0]
          : seg === 2
            ? [0, 255, f]
            : seg === 3
              ? [0, 255 - f, 255]
              : seg === 4
                ? [f, 0, 255]
                : [255, 0, 255 - f];
    if (((i >> 4) & 3) === 0) [r, g, b] = [r >> 2, g >> 2, b >> 2];
    let c = ((r << 16) | (g << 8) | b) ^ (hash32(i) & 0x030303);
    if (c === 0xffffff || c === 0) c ^= 0x010101;
    tex[i] = c;
  }
  tex.copyWithin(TEX_N, 0, MAX_W);
  return tex;
}

/** `count` BGRX frames: row y shows the texture (tinted per row) at offset y*3 + t*(1 + (y>>7)&3). */
export function makeFrames(size: Size, count: number): Uint8Array[] {
  const { width, height } = size;
  const tex = texture();
  const rows = Array.from({ length: height }, (_, y) => {
    const m = hash32(Math.imul(y, 0x9e3779b1)) & 0x1f1f1f;
    return tex.map((c) => (c ^ m) >>> 0);
  });
  const frames: Uint8Array[] = [];
  for (let t = 0; t < count; t++) {
    const frame = new Uint8Array(width * height * 4);
    const px = new Uint32Array(frame.buffer);
    for (let y = 0; y < height; y++) {
      const off = (y * 3 + t * (1 + ((y >> 7) & 3))) & (TEX_N - 1);
      const row = rows[y];
      if (row) px.set(row.subarray(off, off + width), y * width);
    }
    frames.push(frame);
  }
  return frames;
}

/**
 * Which frame the test guest's moving pattern shows on a row (packages/demo-vm/guest/draw.c, README "What it
 * draws"): rows of the speed-1 bands scroll by one texel per frame, so a row's offset into the
 * guest's texture gives the frame number modulo the texture length. Two rows of one image giving
 * different frames, or a frame other than the frame counter's, mean a torn copy.
 */
import { channelOffsets, type GuestScreenImage } from './guest-screen.js';

const TEX_N = 8192; // texels in the guest's texture (a power of two)
const BAND = 128; // rows per speed band
const MATCH = 24; // pixels compared per row

function hash32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The guest's texture as 0xRRGGBB (make_texture in draw.c). */
const texture: Uint32Array = (() => {
  const tex = new Uint32Array(TEX_N);
  for (let i = 0; i < TEX_N; i++) {
    const h = Math.floor((i * 6 * 256) / TEX_N) % (6 * 256);
    const seg = h >> 8;
    const f = h & 0xff;
    const rgb = [
      [255, f, 0],
      [255 - f, 255, 0],
      [0, 255, f],
      [0, 255 - f, 255],
      [f, 0, 255],
      [255, 0, 255 - f],
    ][seg] ?? [0, 0, 0];
    let [r = 0, g = 0, b = 0] = rgb;
    if (((i >> 4) & 3) === 0) {
      r >>= 2;
      g >>= 2;
      b >>= 2;
    }
    let c = ((r << 16) | (g << 8) | b) ^ (hash32(i) & 0x030303);
    if (c === 0xffffff || c === 0) c ^= 0x010101;
    tex[i] = c;
  }
  return tex;
})();

/** Rows whose pattern moves one texel per frame (bands 0 and 4 of every 512 rows). */
export function isSpeedOneRow(y: number): boolean {
  return ((y >> 7) & 3) === 0;
}

/**
 * The frame number modulo 8192 that row `y` shows from column `x0` on (MATCH pixels that must be
 * pattern, not a status block or the pointer), or null when no frame matches. Exact copies only.
 */
export function patternFrame(img: GuestScreenImage, y: number, x0: number): number | null {
  if (!isSpeedOneRow(y)) throw new TypeError(`row ${y} is not in a speed-1 band (every ${BAND * 4} rows)`);
  if (y < 0 || y >= img.height || x0 < 0 || x0 + MATCH > img.width) return null;
  const off = channelOffsets(img.layout);
  const tint = hash32(Math.imul(y, 0x9e3779b1)) & 0x1f1f1f;
  const want = new Uint32Array(MATCH);
  for (let k = 0; k < MATCH; k++) {
    const p = y * img.stride + (x0 + k) * off.bpp;
    const rgb =
      ((img.data[p + off.r] ?? 0) << 16) | ((img.data[p + off.g] ?? 0) << 8) | (img.data[p + off.b] ?? 0);
    want[k] = rgb ^ tint;
  }
  for (let o = 0; o < TEX_N; o++) {
    let k = 0;
    while (k < MATCH && texture[(o + x0 + k) & (TEX_N - 1)] === want[k]) k++;
    if (k === MATCH) return (((o - 3 * y) % TEX_N) + TEX_N) % TEX_N; // o = (3y + t) mod TEX_N
  }
  return null;
}

/**
 * Whether an image is one whole guest frame: a speed-1 row near the top and one near the bottom
 * both show frame `frame` (the frame counter). null when no rows could be checked.
 */
export function isWholeFrame(img: GuestScreenImage, frame: number): boolean | null {
  const top = 100; // below the panel (72 rows), left of the marker frame: x from 720
  const bottom =
    Math.floor((img.height - 1) / (BAND * 4)) * BAND * 4 + Math.min(BAND - 1, (img.height - 1) % (BAND * 4));
  const a = patternFrame(img, top, 720);
  const b = patternFrame(img, bottom, 16);
  if (a === null || b === null) return null;
  const t = frame % TEX_N;
  return a === t && b === t;
}

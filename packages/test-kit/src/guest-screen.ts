/**
 * Reads the status blocks the test guest (packages/demo-vm/guest) draws: frame counter, last scancode, press
 * count, held keys and the key marker. Works on exact copies (QMP screendump, the capture ring) and
 * on scaled or lossy ones (decoded H.264): each cell is judged by the average luma of its centre.
 * The layout is described in packages/demo-vm/guest/README.md.
 */

export type PixelLayout = 'bgrx' | 'rgba' | 'rgb';

export interface GuestScreenImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** Bytes from one row to the next. */
  stride: number;
  layout: PixelLayout;
}

export interface GuestStatus {
  frame: number;
  scancode: number;
  presses: number;
  held: number;
  /** true = white (an odd number of presses). */
  marker: boolean;
}

const CELL = 16;
const ROWS_X = 16;
const ROW_A_Y = 16;
const ROW_B_Y = 40;
const MARKER_SIZE = 192;
const MARKER_RIGHT = 208; // the marker's left edge is at guestWidth - 208
const MARKER_Y = 16;
/**
 * Part of a cell that is sampled (guest pixels): columns 4..11, rows 4..10. An odd number of rows:
 * the guest draws the cells scanline by scanline, so a copy taken mid-draw never reads a tie.
 */
const CELL_X0 = 4;
const CELL_X1 = 12;
const CELL_Y0 = 4;
const CELL_Y1 = 11;
/** Part of the marker that is sampled: 32 px in from each side. */
const MARKER_MARGIN = 32;
const SYNC_WHITE = 200;
const SYNC_BLACK = 55;
const THRESHOLD = 128;

/** Byte offsets of red, green and blue in a pixel, and bytes per pixel. */
export function channelOffsets(layout: PixelLayout): { r: number; g: number; b: number; bpp: number } {
  switch (layout) {
    case 'bgrx':
      return { r: 2, g: 1, b: 0, bpp: 4 };
    case 'rgba':
      return { r: 0, g: 1, b: 2, bpp: 4 };
    case 'rgb':
      return { r: 0, g: 1, b: 2, bpp: 3 };
    default:
      throw new TypeError(`unknown pixel layout: ${String(layout)}`);
  }
}

class Sampler {
  private readonly sx: number;
  private readonly sy: number;
  private readonly off: { r: number; g: number; b: number; bpp: number };

  constructor(
    private readonly img: GuestScreenImage,
    guestWidth: number,
    guestHeight: number,
  ) {
    this.sx = img.width / guestWidth;
    this.sy = img.height / guestHeight;
    this.off = channelOffsets(img.layout);
  }

  /** Average luma (0..255) of the guest rectangle [x0, x1) x [y0, y1); NaN when it is off the image. */
  luma(x0: number, y0: number, x1: number, y1: number): number {
    const { img, off } = this;
    let ix0 = Math.floor(x0 * this.sx);
    let iy0 = Math.floor(y0 * this.sy);
    let ix1 = Math.ceil(x1 * this.sx);
    let iy1 = Math.ceil(y1 * this.sy);
    if (ix1 <= ix0) ix1 = ix0 + 1;
    if (iy1 <= iy0) iy1 = iy0 + 1;
    ix0 = Math.max(ix0, 0);
    iy0 = Math.max(iy0, 0);
    ix1 = Math.min(ix1, img.width);
    iy1 = Math.min(iy1, img.height);
    if (ix0 >= ix1 || iy0 >= iy1) return NaN;
    // Large areas (the marker) are subsampled to at most ~64 x 64 points.
    const stepX = Math.max(1, Math.floor((ix1 - ix0) / 64));
    const stepY = Math.max(1, Math.floor((iy1 - iy0) / 64));
    const data = img.data;
    let sum = 0;
    let n = 0;
    for (let y = iy0; y < iy1; y += stepY) {
      let p = y * img.stride + ix0 * off.bpp;
      for (let x = ix0; x < ix1; x += stepX, p += stepX * off.bpp) {
        const r = data[p + off.r] ?? 0;
        const g = data[p + off.g] ?? 0;
        const b = data[p + off.b] ?? 0;
        sum += 77 * r + 150 * g + 29 * b;
        n++;
      }
    }
    return sum / n / 256;
  }

  cell(row: number, i: number): number {
    const x = ROWS_X + CELL * i;
    return this.luma(x + CELL_X0, row + CELL_Y0, x + CELL_X1, row + CELL_Y1);
  }

  /** True when the row's sync cells read white then black. */
  synced(row: number): boolean {
    return this.cell(row, 0) > SYNC_WHITE && this.cell(row, 1) < SYNC_BLACK;
  }

  /** Reads nbits cells from cell i on, most significant first. */
  bits(row: number, i: number, nbits: number): number {
    let v = 0;
    for (let k = 0; k < nbits; k++) v = v * 2 + (this.cell(row, i + k) >= THRESHOLD ? 1 : 0);
    return v;
  }
}

/**
 * Reads the status blocks. guestWidth/guestHeight: the guest's resolution when the image is a scaled
 * copy (defaults: the image size). Returns null when the sync cells are not found (not the test
 * guest, or not drawn yet).
 */
export function readGuestStatus(
  img: GuestScreenImage,
  guestWidth?: number,
  guestHeight?: number,
): GuestStatus | null {
  const gw = guestWidth ?? img.width;
  const gh = guestHeight ?? img.height;
  if (!(gw > 0 && gh > 0 && img.width > 0 && img.height > 0)) return null;
  const bpp = channelOffsets(img.layout).bpp;
  if (img.stride < img.width * bpp || img.data.length < img.stride * (img.height - 1) + img.width * bpp) {
    throw new TypeError(
      `image data too short: ${img.data.length} bytes for ${img.width}x${img.height}, stride ${img.stride}`,
    );
  }
  const s = new Sampler(img, gw, gh);
  if (!s.synced(ROW_A_Y) || !s.synced(ROW_B_Y)) return null;
  const mx = gw - MARKER_RIGHT;
  const marker = s.luma(
    mx + MARKER_MARGIN,
    MARKER_Y + MARKER_MARGIN,
    mx + MARKER_SIZE - MARKER_MARGIN,
    MARKER_Y + MARKER_SIZE - MARKER_MARGIN,
  );
  return {
    frame: s.bits(ROW_A_Y, 2, 32),
    scancode: s.bits(ROW_B_Y, 2, 16),
    presses: s.bits(ROW_B_Y, 18, 16),
    held: s.bits(ROW_B_Y, 34, 8),
    marker: marker >= THRESHOLD,
  };
}

/**
 * The status blocks of a picture as the H.264 decoder gives it (4 bytes a pixel, BGRx or BGRA, rows
 * unpadded); null as readGuestStatus.
 */
export function readDecodedGuestStatus(pic: {
  data: Uint8Array;
  width: number;
  height: number;
}): GuestStatus | null {
  return readGuestStatus({
    data: pic.data,
    width: pic.width,
    height: pic.height,
    stride: pic.width * 4,
    layout: 'bgrx',
  });
}

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0b || c === 0x0c || c === 0x0d;
}

/** Parses a binary PPM (P6, maxval 255), as QMP `screendump` writes it, without copying the pixels. */
export function parsePpm(buf: Uint8Array): GuestScreenImage {
  if (buf[0] !== 0x50 || buf[1] !== 0x36) {
    throw new TypeError('not a binary PPM: the file does not start with P6');
  }
  let pos = 2;
  const fields: number[] = [];
  while (fields.length < 3) {
    const start = pos;
    // Whitespace and comments (from '#' to the end of the line) separate the header fields.
    while (pos < buf.length) {
      if (isSpace(buf[pos])) pos++;
      else if (buf[pos] === 0x23) {
        while (pos < buf.length && buf[pos] !== 0x0a && buf[pos] !== 0x0d) pos++;
      } else break;
    }
    if (pos === start) throw new TypeError('bad PPM header: fields must be separated by whitespace');
    let value = 0;
    let digits = 0;
    while (pos < buf.length) {
      const c = buf[pos] ?? 0;
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
      digits++;
      pos++;
      if (digits > 9) throw new TypeError('bad PPM header: number too long');
    }
    if (digits === 0) throw new TypeError('bad PPM header: expected a number');
    fields.push(value);
  }
  const [width = 0, height = 0, maxval = 0] = fields;
  if (maxval !== 255) throw new TypeError(`unsupported PPM maxval ${maxval}: only 255 is supported`);
  if (width === 0 || height === 0) throw new TypeError(`bad PPM size ${width}x${height}`);
  // Exactly one whitespace byte ends the header.
  if (!isSpace(buf[pos])) throw new TypeError('bad PPM header: no whitespace after maxval');
  pos++;
  // QEMU's screendump writes each row with the stride of its pixman line buffer, a multiple of 4
  // bytes: a width that is not a multiple of 4 (virtio-gpu allows any) gets 1..3 padding bytes per
  // row. Taken as padded rows only when the file holds exactly that many bytes.
  const packed = width * 3;
  const padded = (packed + 3) & ~3;
  const stride = padded !== packed && buf.length - pos === padded * height ? padded : packed;
  const size = stride * height;
  if (buf.length - pos < size) {
    throw new TypeError(
      `truncated PPM: ${buf.length - pos} bytes of pixels, ${width}x${height} needs ${size}`,
    );
  }
  return { data: buf.subarray(pos, pos + size), width, height, stride, layout: 'rgb' };
}

/** Pixels where a ring frame (bytes B,G,R,X) and a QMP screendump (R,G,B) of the same size differ. */
export function countRingDumpMismatches(ring: GuestScreenImage, dump: GuestScreenImage): number {
  let mismatches = 0;
  for (let y = 0; y < dump.height; y++) {
    for (let x = 0; x < dump.width; x++) {
      const d = y * dump.stride + x * 3;
      const r = y * ring.stride + x * 4;
      if (
        ring.data[r] !== dump.data[d + 2] ||
        ring.data[r + 1] !== dump.data[d + 1] ||
        ring.data[r + 2] !== dump.data[d]
      )
        mismatches++;
    }
  }
  return mismatches;
}

/**
 * How far two pictures of the same size are apart, judged as a person would: the mean over
 * `block`-pixel squares of the absolute difference of their average red, green and blue (0..255).
 * Lossy copies (decoded H.264) of the same picture come out low, different pictures high; the
 * guest's per-pixel noise averages out.
 */
export function blockMeanDifference(a: GuestScreenImage, b: GuestScreenImage, block = 16): number {
  if (a.width !== b.width || a.height !== b.height)
    throw new TypeError(`sizes differ: ${a.width}x${a.height} and ${b.width}x${b.height}`);
  const ca = channelOffsets(a.layout);
  const cb = channelOffsets(b.layout);
  let total = 0;
  let blocks = 0;
  for (let y0 = 0; y0 + block <= a.height; y0 += block) {
    for (let x0 = 0; x0 + block <= a.width; x0 += block) {
      let [ar, ag, ab, br, bg, bb] = [0, 0, 0, 0, 0, 0];
      for (let y = y0; y < y0 + block; y++) {
        for (let x = x0; x < x0 + block; x++) {
          const pa = y * a.stride + x * ca.bpp;
          const pb = y * b.stride + x * cb.bpp;
          ar += a.data[pa + ca.r] ?? 0;
          ag += a.data[pa + ca.g] ?? 0;
          ab += a.data[pa + ca.b] ?? 0;
          br += b.data[pb + cb.r] ?? 0;
          bg += b.data[pb + cb.g] ?? 0;
          bb += b.data[pb + cb.b] ?? 0;
        }
      }
      total += (Math.abs(ar - br) + Math.abs(ag - bg) + Math.abs(ab - bb)) / (3 * block * block);
      blocks++;
    }
  }
  return blocks === 0 ? 0 : total / blocks;
}

/*
 * The frame ring file: one per console, written by capture, read by encoders. All integers are
 * little-endian. Offsets in bytes.
 *
 *   Ring header (bytes 0..4095, HEADER_SIZE)
 *     0   u8[8]  magic       "QWRING1\0"
 *     8   u32    version     1
 *     12  u32    headerSize  4096 (pixels of slot 0 start here)
 *     16  u32    slotCount   1..16
 *     20  u32    width       pixels
 *     24  u32    height      pixels
 *     28  u32    stride      bytes per row (>= width * 4)
 *     32  u32    format      PixelFormat of the protobuf contract: 1 = BGRX, 2 = BGRA
 *     36  u32    generation  bumped by capture whenever it re-creates the ring (resize)
 *     40  u64    slotSize    bytes per slot's pixels, a multiple of 4096, >= stride * height
 *     48  ...    reserved (0) up to 64
 *
 *   Slot headers: slot i at 64 + i * 64, 64 bytes each
 *     0   u64    sequence    frame sequence (> 0) while the slot holds that frame; 0 = empty or
 *                            being written
 *     8   u64    writtenUs   when the frame was committed, microseconds since the Unix epoch
 *     16  u32    width
 *     20  u32    height
 *     24  u32    stride
 *     28  u32    format
 *     32  ...    reserved (0) up to 64
 *
 *   Pixels of slot i: headerSize + i * slotSize, rows top to bottom, `stride` bytes apart.
 *   File size: headerSize + slotCount * slotSize.
 *
 * Concurrency (a seqlock per slot; one writer, any number of readers, nobody waits):
 *   writer: sequence := 0; write pixels; write the slot header fields; sequence := n (> 0, per ring
 *           strictly increasing). Both sequence stores are Atomics.store on a BigUint64Array (a
 *           sequentially consistent 8-byte store, so no reader sees a torn sequence and no pixel or
 *           header store moves across it).
 *   reader: told (by FrameReady) that slot s holds frame n: Atomics.load(sequence) === n, then read
 *           the header and use the pixels, then Atomics.load(sequence) === n again. If either check
 *           fails the slot was overwritten meanwhile and whatever was read must be dropped.
 *   The writer never reuses the slot it completed last, so the newest frame stays readable for at
 *   least slotCount - 1 frame intervals. The encoder makes the second check on its worker thread
 *   after the colour conversion and before the encode, so a torn read is discarded, never encoded.
 *
 * Names: the file name is unique per writer and never reused (ring-names.ts), so a reader that
 * caches open rings by name never mistakes a new ring for an old one. A reader's close() and a
 * writer's destroy() release the mapping at once (zero pages take the file's place).
 */

/** PixelFormat values of the protobuf contract (qemu_webrtc.v1.PixelFormat). */
export const PixelFormat = {
  BGRX: 1,
  BGRA: 2,
} as const;
export type PixelFormat = (typeof PixelFormat)[keyof typeof PixelFormat];

export const MAGIC = new Uint8Array([0x51, 0x57, 0x52, 0x49, 0x4e, 0x47, 0x31, 0x00]); // "QWRING1\0"
export const RING_VERSION = 1;
export const HEADER_SIZE = 4096;
export const SLOT_HEADERS_OFFSET = 64;
export const SLOT_HEADER_SIZE = 64;
export const MAX_SLOTS = 16;
/** Slot sizes are rounded up to this (the x86/arm64 page size). */
export const SLOT_ALIGN = 4096;
/** Node 20 caps an ArrayBuffer, hence a mapping, at 4 GiB. */
export const MAX_RING_BYTES = 2 ** 32;

/** Offsets in the ring header. */
export const RingHeaderOffset = {
  magic: 0,
  version: 8,
  headerSize: 12,
  slotCount: 16,
  width: 20,
  height: 24,
  stride: 28,
  format: 32,
  generation: 36,
  slotSize: 40,
} as const;

/** Offsets in a slot header. */
export const SlotHeaderOffset = {
  sequence: 0,
  writtenUs: 8,
  width: 16,
  height: 20,
  stride: 24,
  format: 28,
} as const;

export interface RingHeader {
  slotCount: number;
  width: number;
  height: number;
  stride: number;
  format: PixelFormat;
  generation: number;
  slotSize: number;
}

export function bytesPerPixel(_format: PixelFormat): number {
  return 4;
}

export function isPixelFormat(value: number): value is PixelFormat {
  return value === PixelFormat.BGRX || value === PixelFormat.BGRA;
}

/** Bytes of one slot's pixels for this stride and height, rounded up to SLOT_ALIGN. */
export function slotSizeFor(stride: number, height: number): number {
  return Math.ceil((stride * height) / SLOT_ALIGN) * SLOT_ALIGN;
}

export function ringFileSize(slotCount: number, slotSize: number): number {
  return HEADER_SIZE + slotCount * slotSize;
}

export function slotHeaderOffset(slot: number): number {
  return SLOT_HEADERS_OFFSET + slot * SLOT_HEADER_SIZE;
}

export function slotPixelsOffset(slot: number, slotSize: number): number {
  return HEADER_SIZE + slot * slotSize;
}

/** Index of slot `slot`'s sequence in a BigUint64Array over the whole ring. */
export function sequenceIndex(slot: number): number {
  return (slotHeaderOffset(slot) + SlotHeaderOffset.sequence) / 8;
}

/** Writes the ring header (magic, version, geometry) into a zeroed header. */
export function writeRingHeader(view: DataView, h: RingHeader): void {
  new Uint8Array(view.buffer, view.byteOffset, MAGIC.length).set(MAGIC);
  view.setUint32(RingHeaderOffset.version, RING_VERSION, true);
  view.setUint32(RingHeaderOffset.headerSize, HEADER_SIZE, true);
  view.setUint32(RingHeaderOffset.slotCount, h.slotCount, true);
  view.setUint32(RingHeaderOffset.width, h.width, true);
  view.setUint32(RingHeaderOffset.height, h.height, true);
  view.setUint32(RingHeaderOffset.stride, h.stride, true);
  view.setUint32(RingHeaderOffset.format, h.format, true);
  view.setUint32(RingHeaderOffset.generation, h.generation, true);
  view.setBigUint64(RingHeaderOffset.slotSize, BigInt(h.slotSize), true);
}

/**
 * Reads and checks a ring header against the file's size. Returns the header, or a sentence
 * naming what is wrong.
 */
export function readRingHeader(view: DataView, fileSize: number): RingHeader | string {
  if (fileSize < HEADER_SIZE) {
    return `truncated: ${fileSize} bytes, smaller than the ${HEADER_SIZE}-byte header`;
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (view.getUint8(RingHeaderOffset.magic + i) !== MAGIC[i]) return 'bad magic (not a QWRING1 frame ring)';
  }
  const version = view.getUint32(RingHeaderOffset.version, true);
  if (version !== RING_VERSION) return `unsupported version ${version} (expected ${RING_VERSION})`;
  const headerSize = view.getUint32(RingHeaderOffset.headerSize, true);
  if (headerSize !== HEADER_SIZE) return `bad header size ${headerSize} (expected ${HEADER_SIZE})`;
  const slotCount = view.getUint32(RingHeaderOffset.slotCount, true);
  if (slotCount < 1 || slotCount > MAX_SLOTS) return `bad slot count ${slotCount} (1..${MAX_SLOTS})`;
  const width = view.getUint32(RingHeaderOffset.width, true);
  const height = view.getUint32(RingHeaderOffset.height, true);
  if (width === 0 || height === 0) return `bad size ${width}x${height}`;
  const format = view.getUint32(RingHeaderOffset.format, true);
  if (!isPixelFormat(format)) return `unknown pixel format ${format}`;
  const stride = view.getUint32(RingHeaderOffset.stride, true);
  if (stride < width * bytesPerPixel(format)) return `stride ${stride} is too small for width ${width}`;
  const slotSize64 = view.getBigUint64(RingHeaderOffset.slotSize, true);
  if (slotSize64 > BigInt(MAX_RING_BYTES)) return `slot size ${slotSize64} is too large`;
  const slotSize = Number(slotSize64);
  if (slotSize % SLOT_ALIGN !== 0 || slotSize < stride * height) {
    return `bad slot size ${slotSize} for ${height} rows of ${stride} bytes`;
  }
  const expected = ringFileSize(slotCount, slotSize);
  if (fileSize < expected) {
    return `truncated: ${fileSize} bytes, but ${slotCount} slots of ${slotSize} bytes need ${expected}`;
  }
  const generation = view.getUint32(RingHeaderOffset.generation, true);
  return { slotCount, width, height, stride, format, generation, slotSize };
}

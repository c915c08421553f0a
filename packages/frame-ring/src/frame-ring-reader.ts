import { statSync } from 'node:fs';

import { ClosedError, RingFormatError } from './errors.js';
import { mapFile, releaseMapping } from './native.js';
import {
  bytesPerPixel,
  HEADER_SIZE,
  isPixelFormat,
  type PixelFormat,
  readRingHeader,
  type RingHeader,
  sequenceIndex,
  slotHeaderOffset,
  SlotHeaderOffset,
  slotPixelsOffset,
} from './ring-layout.js';
import { checkInt, checkU64 } from './validate.js';

/** A frame read from a slot. `pixels` is a zero-copy, read-only view into the ring. */
export interface SlotFrame {
  /** height rows of `stride` bytes. Never write to it: the mapping is read-only (SIGSEGV). */
  pixels: Uint8Array;
  width: number;
  height: number;
  stride: number;
  format: PixelFormat;
  /** When the writer committed the frame, µs since the Unix epoch. */
  writtenUs: number;
}

interface Mapped {
  buffer: ArrayBuffer;
  view: DataView;
  sequences: BigUint64Array;
}

/**
 * Reads frames from a ring file written by FrameRingWriter (possibly in another process), without
 * ever blocking the writer. Use as a seqlock:
 *
 *   const frame = reader.read(slot, sequence);      // null: already overwritten
 *   ... copy or encode frame.pixels ...
 *   if (!reader.stillValid(slot, sequence)) drop;   // overwritten while in use
 *
 * close() lets go of the ring file at once (it leaves the process's mappings): views handed out
 * before stay valid but read zeros from then on, and a seqlock check fails, so whatever was read
 * across a close() is dropped like an overwritten slot.
 */
export class FrameRingReader {
  readonly #path: string;
  readonly #header: RingHeader;
  #mapped: Mapped | null;

  private constructor(path: string, buffer: ArrayBuffer, header: RingHeader) {
    this.#path = path;
    this.#header = header;
    this.#mapped = {
      buffer,
      view: new DataView(buffer),
      sequences: new BigUint64Array(buffer, 0, HEADER_SIZE / 8),
    };
  }

  /** Maps a ring file read-only and checks its header; a bad file throws RingFormatError. */
  static open(path: string): FrameRingReader {
    if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
    const size = statSync(path).size;
    if (size < HEADER_SIZE) {
      throw new RingFormatError(
        `frame ring ${path} is truncated: ${size} bytes, smaller than the ${HEADER_SIZE}-byte header`,
      );
    }
    const buffer = mapFile(path, 0, { create: false, writable: false });
    const header = readRingHeader(new DataView(buffer), buffer.byteLength);
    if (typeof header === 'string') throw new RingFormatError(`frame ring ${path} is invalid: ${header}`);
    return new FrameRingReader(path, buffer, header);
  }

  get path(): string {
    return this.#path;
  }
  get generation(): number {
    return this.#header.generation;
  }
  get slotCount(): number {
    return this.#header.slotCount;
  }
  get width(): number {
    return this.#header.width;
  }
  get height(): number {
    return this.#header.height;
  }
  get stride(): number {
    return this.#header.stride;
  }
  get format(): PixelFormat {
    return this.#header.format;
  }

  /**
   * The frame in `slot` if its sequence is `expectedSequence` (number or bigint, > 0), else null
   * (empty, being written, or overwritten by a newer frame). Confirm with stillValid() after use.
   */
  read(slot: number, expectedSequence: number | bigint): SlotFrame | null {
    const { buffer, view, sequences } = this.#open();
    const s = checkInt(slot, 'slot', 0, this.#header.slotCount - 1);
    const expected = checkU64(expectedSequence, 'expectedSequence', 1n);
    if (Atomics.load(sequences, sequenceIndex(s)) !== expected) return null;
    const base = slotHeaderOffset(s);
    const width = view.getUint32(base + SlotHeaderOffset.width, true);
    const height = view.getUint32(base + SlotHeaderOffset.height, true);
    const stride = view.getUint32(base + SlotHeaderOffset.stride, true);
    const format = view.getUint32(base + SlotHeaderOffset.format, true);
    const writtenUs = Number(view.getBigUint64(base + SlotHeaderOffset.writtenUs, true));
    // Read after the sequence: if the writer reused the slot meanwhile, the header may be torn.
    if (Atomics.load(sequences, sequenceIndex(s)) !== expected) return null;
    if (
      !isPixelFormat(format) ||
      width === 0 ||
      height === 0 ||
      stride < width * bytesPerPixel(format) ||
      stride * height > this.#header.slotSize
    ) {
      throw new RingFormatError(
        `frame ring ${this.#path} slot ${s}: bad frame header ${width}x${height} stride ${stride} format ${format}`,
      );
    }
    const pixels = new Uint8Array(buffer, slotPixelsOffset(s, this.#header.slotSize), stride * height);
    return { pixels, width, height, stride, format, writtenUs };
  }

  /** Whether `slot` still holds frame `expectedSequence` (false once the writer reuses it). */
  stillValid(slot: number, expectedSequence: number | bigint): boolean {
    const { sequences } = this.#open();
    const s = checkInt(slot, 'slot', 0, this.#header.slotCount - 1);
    const expected = checkU64(expectedSequence, 'expectedSequence', 1n);
    return Atomics.load(sequences, sequenceIndex(s)) === expected;
  }

  /** Where slot `slot`'s sequence lives: 8 bytes at `byteOffset` of `buffer` (native seqlock checks). */
  sequenceLocation(slot: number): { buffer: ArrayBuffer; byteOffset: number } {
    const { buffer } = this.#open();
    const s = checkInt(slot, 'slot', 0, this.#header.slotCount - 1);
    return { buffer, byteOffset: sequenceIndex(s) * 8 };
  }

  /**
   * Releases the ring file (see the class comment); later calls throw ClosedError. Safe twice.
   */
  close(): void {
    if (this.#mapped === null) return;
    const { buffer } = this.#mapped;
    this.#mapped = null;
    releaseMapping(buffer);
  }

  #open(): Mapped {
    if (this.#mapped === null) throw new ClosedError(`frame ring reader ${this.#path} is closed`);
    return this.#mapped;
  }
}

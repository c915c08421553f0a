import { renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { type Rect, SlotDamage } from './damage.js';
import { ClosedError } from './errors.js';
import { mapFile, releaseMapping } from './native.js';
import {
  bytesPerPixel,
  HEADER_SIZE,
  isPixelFormat,
  MAX_RING_BYTES,
  MAX_SLOTS,
  type PixelFormat,
  ringFileSize,
  type RingHeader,
  sequenceIndex,
  slotHeaderOffset,
  SlotHeaderOffset,
  slotPixelsOffset,
  slotSizeFor,
  writeRingHeader,
} from './ring-layout.js';
import { at, checkInt, checkU64 } from './validate.js';

export interface FrameRingWriterOptions {
  /** Directory of the ring file; default /dev/shm. */
  dir?: string;
  /** File name of the ring (no '/'); FrameReady.ring_name. */
  name: string;
  width: number;
  height: number;
  /** Bytes per row; default width * 4. */
  stride?: number;
  format: PixelFormat;
  /** Number of slots, 2..16; default 3. */
  slots?: number;
  /** FrameReady.ring_generation: bump it whenever the ring is re-created. */
  generation: number;
}

/** A slot handed out by beginWrite(). */
export interface SlotWrite {
  slot: number;
  /** The slot's pixels: height rows of `stride` bytes. */
  pixels: Uint8Array;
  /**
   * Regions of the slot that are stale (changed, per markDamage(), since the slot was last
   * written). Copying these brings the slot up to date; a fresh slot's damage is the whole frame.
   */
  damage: Rect[];
}

const U32_MAX = 0xffffffff;

interface Mapped {
  buffer: ArrayBuffer;
  view: DataView;
  /** Over the header page: index sequenceIndex(slot) is the slot's sequence. */
  sequences: BigUint64Array;
  pixels: Uint8Array[];
}
const DIM_MAX = 65535;

/**
 * Writes a console's frames into a ring file in shared memory (see ring-layout.ts). One writer per
 * ring; readers in other processes never block it.
 *
 * Per frame: beginWrite() -> copy at least the returned damage into `pixels` -> commitWrite().
 * Calling beginWrite() again before commitWrite() abandons the pending write (that slot stays
 * empty and becomes stale everywhere).
 */
export class FrameRingWriter {
  readonly #path: string;
  readonly #header: RingHeader;
  /** The file's identity, so destroy() never unlinks a newer ring created under the same name. */
  readonly #ino: bigint;
  #mapped: Mapped | null;
  readonly #damage: SlotDamage;
  #writing = -1;
  #lastCommitted = -1;
  #lastSequence = 0n;

  private constructor(path: string, ino: bigint, buffer: ArrayBuffer, header: RingHeader) {
    this.#path = path;
    this.#ino = ino;
    this.#header = header;
    const frameBytes = header.stride * header.height;
    this.#mapped = {
      buffer,
      view: new DataView(buffer),
      sequences: new BigUint64Array(buffer, 0, HEADER_SIZE / 8),
      pixels: Array.from(
        { length: header.slotCount },
        (_, i) => new Uint8Array(buffer, slotPixelsOffset(i, header.slotSize), frameBytes),
      ),
    };
    this.#damage = new SlotDamage(header.slotCount, header.width, header.height);
  }

  /**
   * Creates the ring file `${dir}/${name}` (mode 0600, all slots empty). An existing file of that
   * name is replaced atomically (rename): readers still mapping it keep the old ring intact.
   */
  static create(opts: FrameRingWriterOptions): FrameRingWriter {
    const dir: unknown = opts.dir ?? '/dev/shm';
    if (typeof dir !== 'string' || dir === '') throw new TypeError('dir must be a non-empty string');
    const name: unknown = opts.name;
    if (typeof name !== 'string' || !/^[^/\0]+$/.test(name) || name === '.' || name === '..') {
      throw new TypeError(`name must be a file name without '/', got ${String(name)}`);
    }
    const format = opts.format;
    if (!isPixelFormat(format)) throw new TypeError(`format must be a PixelFormat, got ${String(format)}`);
    const width = checkInt(opts.width, 'width', 1, DIM_MAX);
    const height = checkInt(opts.height, 'height', 1, DIM_MAX);
    const minStride = width * bytesPerPixel(format);
    const stride = checkInt(opts.stride ?? minStride, 'stride', minStride, U32_MAX);
    const slotCount = checkInt(opts.slots ?? 3, 'slots', 2, MAX_SLOTS);
    const generation = checkInt(opts.generation, 'generation', 0, U32_MAX);
    const slotSize = slotSizeFor(stride, height);
    const fileSize = ringFileSize(slotCount, slotSize);
    if (fileSize > MAX_RING_BYTES) {
      throw new TypeError(`ring of ${slotCount} slots of ${slotSize} bytes exceeds ${MAX_RING_BYTES} bytes`);
    }
    const header: RingHeader = { slotCount, width, height, stride, format, generation, slotSize };

    const path = join(dir, name);
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    rmSync(tmp, { force: true });
    try {
      const buffer = mapFile(tmp, fileSize, { create: true, writable: true });
      writeRingHeader(new DataView(buffer), header);
      const { ino } = statSync(tmp, { bigint: true });
      renameSync(tmp, path);
      return new FrameRingWriter(path, ino, buffer, header);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  get path(): string {
    return this.#path;
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
  get generation(): number {
    return this.#header.generation;
  }
  get slotCount(): number {
    return this.#header.slotCount;
  }
  /** Bytes reserved per slot (page multiple). */
  get slotSize(): number {
    return this.#header.slotSize;
  }

  /** Records that `rect` of the frame changed: every slot is now stale there. */
  markDamage(rect: Rect): void {
    this.#open();
    checkInt(rect.x, 'rect.x', 0, U32_MAX);
    checkInt(rect.y, 'rect.y', 0, U32_MAX);
    checkInt(rect.width, 'rect.width', 0, U32_MAX);
    checkInt(rect.height, 'rect.height', 0, U32_MAX);
    this.#damage.add(rect);
  }

  /**
   * Takes the next slot (round robin, never the one completed last) and marks it empty
   * (sequence 0) before returning, so readers of its previous frame see it is gone.
   */
  beginWrite(): SlotWrite {
    const { sequences, pixels } = this.#open();
    if (this.#writing >= 0) this.#damage.invalidate(this.#writing);
    const slot = (this.#lastCommitted + 1) % this.#header.slotCount;
    Atomics.store(sequences, sequenceIndex(slot), 0n);
    this.#writing = slot;
    return { slot, pixels: at(pixels, slot), damage: this.#damage.take(slot) };
  }

  /**
   * Publishes the slot written since beginWrite(): its header, then its sequence last.
   * `sequence` must be greater than every sequence committed before (number or bigint).
   */
  commitWrite(slot: number, sequence: number | bigint, writtenUs: number | bigint): void {
    const { sequences, view } = this.#open();
    if (slot !== this.#writing) {
      throw new Error(
        `slot ${String(slot)} is not being written` +
          (this.#writing >= 0
            ? ` (beginWrite() returned slot ${this.#writing})`
            : ' (call beginWrite() first)'),
      );
    }
    const seq = checkU64(sequence, 'sequence', 1n);
    if (seq <= this.#lastSequence) {
      throw new RangeError(`sequence ${seq} is not greater than the last one (${this.#lastSequence})`);
    }
    const us = checkU64(writtenUs, 'writtenUs', 0n);
    const h = this.#header;
    const base = slotHeaderOffset(slot);
    view.setBigUint64(base + SlotHeaderOffset.writtenUs, us, true);
    view.setUint32(base + SlotHeaderOffset.width, h.width, true);
    view.setUint32(base + SlotHeaderOffset.height, h.height, true);
    view.setUint32(base + SlotHeaderOffset.stride, h.stride, true);
    view.setUint32(base + SlotHeaderOffset.format, h.format, true);
    Atomics.store(sequences, sequenceIndex(slot), seq);
    this.#lastSequence = seq;
    this.#lastCommitted = slot;
    this.#writing = -1;
  }

  /**
   * Marks every slot empty, unlinks the ring file and releases this process's mapping of it (views
   * handed out before read zeros from then on). Safe twice; other calls then throw ClosedError.
   */
  destroy(): void {
    if (this.#mapped === null) return;
    const { sequences, buffer } = this.#mapped;
    for (let i = 0; i < this.#header.slotCount; i++) Atomics.store(sequences, sequenceIndex(i), 0n);
    this.#mapped = null;
    releaseMapping(buffer);
    let ino: bigint | undefined;
    try {
      ino = statSync(this.#path, { bigint: true }).ino;
    } catch {
      // already gone
    }
    if (ino === this.#ino) rmSync(this.#path, { force: true });
  }

  #open(): Mapped {
    if (this.#mapped === null) throw new ClosedError(`frame ring ${this.#path} is destroyed`);
    return this.#mapped;
  }
}

// Typed access to the native addon (native/build/Release/frame_ring.node, built by `pnpm build`).
//
// Mappings are external ArrayBuffers: a mapping lives exactly as long as its ArrayBuffer (and every
// view on it), and is unmapped by the buffer's finalizer after garbage collection. There is no
// explicit unmap, so no view can ever point at unmapped memory; releaseMapping() lets go of the
// file at once by putting zero pages in its place. A read-only mapping must not be
// written through a view: the process would crash (SIGSEGV).
import { createRequire } from 'node:module';

/** Pixel bytes: an ArrayBuffer or any view on one (its byteOffset/byteLength are honoured). */
export type ByteSource = ArrayBuffer | ArrayBufferView;

export interface MapFileOptions {
  /** Create the file (mode 0600) if missing and size it to `length` (ftruncate + fallocate). */
  create: boolean;
  /** Map read-write (PROT_WRITE); otherwise read-only. `create` requires it. */
  writable: boolean;
}

export interface CopyRowsOptions {
  /** Take the source rows bottom-up: dst row dstY + r comes from src row y + height - 1 - r. */
  yFlip?: boolean;
  /** Destination column; defaults to x. */
  dstX?: number;
  /** Destination row; defaults to y. */
  dstY?: number;
}

interface NativeBinding {
  mapFile(path: string, length: number, opts: MapFileOptions): ArrayBuffer;
  mapFd(fd: number, offset: number, length: number, writable: boolean): ArrayBuffer;
  releaseMapping(buffer: ArrayBuffer): void;
  closeFd(fd: number): void;
  copyRows(
    src: ByteSource,
    srcStride: number,
    dst: ByteSource,
    dstStride: number,
    x: number,
    y: number,
    width: number,
    height: number,
    bytesPerPixel: number,
    options?: CopyRowsOptions,
  ): void;
}

const require = createRequire(import.meta.url);
const binding = require('../../native/build/Release/frame_ring.node') as NativeBinding;

/**
 * Maps a whole file MAP_SHARED and closes its fd. With `create`, the file is created (0600) or
 * resized to `length`; without, `length` 0 means the file's size and a larger `length` throws.
 * Bad arguments throw TypeError; system errors throw Error with errno text, `code` and `path`.
 */
export function mapFile(path: string, length: number, opts: MapFileOptions): ArrayBuffer {
  return binding.mapFile(path, length, opts);
}

/**
 * Maps `length` bytes of a regular file or memfd (e.g. one received from QEMU) from any byte
 * `offset`. The fd stays open (close it with closeFd when done; the mapping outlives it).
 * Throws RangeError when offset + length is beyond the file (checked with fstat).
 */
export function mapFd(fd: number, offset: number, length: number, writable: boolean): ArrayBuffer {
  return binding.mapFd(fd, offset, length, writable);
}

/**
 * Lets go of the file under a mapping (from mapFile or mapFd) now rather than at garbage
 * collection: its pages are replaced in place by zero pages, so views on it stay valid and read
 * zeros, and the file leaves /proc/<pid>/maps (its memory is freed once unlinked and unmapped
 * everywhere). Safe twice. TypeError for any other ArrayBuffer.
 */
export function releaseMapping(buffer: ArrayBuffer): void {
  binding.releaseMapping(buffer);
}

/** Closes a file descriptor (e.g. a memfd received over D-Bus). */
export function closeFd(fd: number): void {
  binding.closeFd(fd);
}

/**
 * Copies the width x height rectangle at (x, y) of `src` to (dstX ?? x, dstY ?? y) of `dst`, row
 * by row in one native call. Throws RangeError (before copying anything) when a row would fall
 * outside either buffer or its stride.
 */
export function copyRows(
  src: ByteSource,
  srcStride: number,
  dst: ByteSource,
  dstStride: number,
  x: number,
  y: number,
  width: number,
  height: number,
  bytesPerPixel: number,
  options?: CopyRowsOptions,
): void {
  binding.copyRows(src, srcStride, dst, dstStride, x, y, width, height, bytesPerPixel, options);
}

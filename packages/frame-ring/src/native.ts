// Typed access to the native addon (native/build/Release/frame_ring.node, built by `pnpm build`).
//
// Mappings are external ArrayBuffers: a mapping lives exactly as long as its ArrayBuffer (and every
// view on it), and is unmapped by the buffer's finalizer after garbage collection. There is no
// explicit unmap, so no view can ever point at unmapped memory; releaseMapping() lets go of the
// file at once by putting zero pages in its place. A read-only mapping must not be
// written through a view: the process would crash (SIGSEGV).
//
// Arguments are checked here (native-kit's `check`: TypeError ERR_INVALID_ARG_TYPE / _VALUE);
// the addon keeps the checks that guard memory (RangeError ERR_OUT_OF_BOUNDS).
import { createRequire } from 'node:module';

import { check, invalidArgType, invalidArgValue, is } from '@qemu-webrtc/native-kit';

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

/** Node caps a Buffer/ArrayBuffer at 4 GiB: a larger mapping could not be handed to JS. */
const MAX_MAPPING = 2 ** 32;
/** Coordinates, sizes and strides are 32-bit in the ring and in QEMU's protocol. */
const MAX_DIM = 2 ** 32 - 1;

/**
 * Maps a whole file MAP_SHARED and closes its fd. With `create`, the file is created (0600) or
 * resized to `length`; without, `length` 0 means the file's size and a larger `length` throws.
 * Bad arguments throw TypeError; system errors throw Error with errno text, `code` and `path`;
 * a `length` beyond the file throws RangeError.
 */
export function mapFile(path: string, length: number, opts: MapFileOptions): ArrayBuffer {
  check.path(path, 'mapFile: path');
  check.integer(length, 'mapFile: length', 0, MAX_MAPPING);
  check.object(opts, 'mapFile: opts');
  check.bool(opts.create, 'mapFile: opts.create');
  check.bool(opts.writable, 'mapFile: opts.writable');
  if (opts.create && !opts.writable)
    throw invalidArgValue('mapFile: opts.writable', 'true with opts.create', false);
  if (opts.create && length === 0) throw invalidArgValue('mapFile: length', '> 0 when creating', length);
  return binding.mapFile(path, length, opts);
}

/**
 * Maps `length` bytes of a regular file or memfd (e.g. one received from QEMU) from any byte
 * `offset`. The fd stays open (close it with closeFd when done; the mapping outlives it).
 * Throws RangeError (ERR_OUT_OF_BOUNDS) when offset + length is beyond the file (checked with fstat).
 */
export function mapFd(fd: number, offset: number, length: number, writable: boolean): ArrayBuffer {
  check.fd(fd, 'mapFd: fd');
  check.integer(offset, 'mapFd: offset', 0, Number.MAX_SAFE_INTEGER);
  check.integer(length, 'mapFd: length', 1, MAX_MAPPING);
  check.bool(writable, 'mapFd: writable');
  return binding.mapFd(fd, offset, length, writable);
}

/**
 * Lets go of the file under a mapping (from mapFile or mapFd) now rather than at garbage
 * collection: its pages are replaced in place by zero pages, so views on it stay valid and read
 * zeros, and the file leaves /proc/<pid>/maps (its memory is freed once unlinked and unmapped
 * everywhere). Safe twice. TypeError for any other ArrayBuffer.
 */
export function releaseMapping(buffer: ArrayBuffer): void {
  if (!(buffer instanceof ArrayBuffer))
    throw invalidArgType('releaseMapping: buffer', 'an ArrayBuffer', buffer);
  binding.releaseMapping(buffer);
}

/** Closes a file descriptor (e.g. a memfd received over D-Bus). */
export function closeFd(fd: number): void {
  check.fd(fd, 'closeFd: fd');
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
  check.bytes(src, 'copyRows: src');
  check.integer(srcStride, 'copyRows: srcStride', 0, MAX_DIM);
  check.bytes(dst, 'copyRows: dst');
  check.integer(dstStride, 'copyRows: dstStride', 0, MAX_DIM);
  check.integer(x, 'copyRows: x', 0, MAX_DIM);
  check.integer(y, 'copyRows: y', 0, MAX_DIM);
  check.integer(width, 'copyRows: width', 0, MAX_DIM);
  check.integer(height, 'copyRows: height', 0, MAX_DIM);
  check.integer(bytesPerPixel, 'copyRows: bytesPerPixel', 1, 16);
  // JS callers may pass null for no options.
  if (is.defined(options)) {
    check.object(options, 'copyRows: options');
    if (options.yFlip !== undefined) check.bool(options.yFlip, 'copyRows: options.yFlip');
    if (options.dstX !== undefined) check.integer(options.dstX, 'copyRows: options.dstX', 0, MAX_DIM);
    if (options.dstY !== undefined) check.integer(options.dstY, 'copyRows: options.dstY', 0, MAX_DIM);
  }
  binding.copyRows(src, srcStride, dst, dstStride, x, y, width, height, bytesPerPixel, options);
}

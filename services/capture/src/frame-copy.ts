import { readSync } from 'node:fs';
import { ProtocolError } from '@qemu-webrtc/common';
import { closeFd, copyRows, mapFd } from '@qemu-webrtc/frame-ring';
import { F_SEAL_SHRINK, sharedFdInfo } from './native.js';
import { BYTES_PER_PIXEL } from './pixman-format.js';

/** Copies a w x h rectangle of 32-bit pixels from (sx, sy) of src to (dx, dy) of dst, natively. */
export function copyRect(
  src: Uint8Array,
  srcStride: number,
  sx: number,
  sy: number,
  dst: Uint8Array,
  dstStride: number,
  dx: number,
  dy: number,
  width: number,
  height: number,
): void {
  copyRows(src, srcStride, dst, dstStride, sx, sy, width, height, BYTES_PER_PIXEL, { dstX: dx, dstY: dy });
}

/**
 * Whether a framebuffer memfd QEMU shared with us may be mapped: only when sealed against shrinking
 * (F_SEAL_SHRINK), since a file truncated under our mapping would kill us with SIGBUS on the next
 * read. Throws ProtocolError when the file is already smaller than `offset + length`.
 */
export function mappable(fd: number, offset: number, length: number): { ok: boolean; seals: number } {
  const info = sharedFdInfo(fd);
  if (info.size < offset + length) {
    throw new ProtocolError(`the framebuffer fd has ${info.size} bytes, ${offset + length} are needed`);
  }
  return { ok: (info.seals & F_SEAL_SHRINK) !== 0, seals: info.seals };
}

/** Maps a framebuffer memfd read-only (check `mappable` first); the mapping outlives the fd. */
export function mapSharedFd(fd: number, offset: number, length: number): Uint8Array {
  return new Uint8Array(mapFd(fd, offset, length, false));
}

/**
 * Reads `rows` whole rows from row `y` of a framebuffer memfd into the same rows of `target` with
 * pread(2): a file that shrank gives a short read (a ProtocolError here), never a SIGBUS.
 */
export function readSharedRows(
  fd: number,
  offset: number,
  target: Uint8Array,
  stride: number,
  y: number,
  rows: number,
): void {
  const length = rows * stride;
  const read = readSync(fd, target, y * stride, length, offset + y * stride);
  if (read < length) throw new ProtocolError(`the framebuffer fd shrank: read ${read} of ${length} bytes`);
}

export { closeFd };

import { closeFd, copyRows, mapFd } from '@qemu-webrtc/frame-ring';
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

/** Maps a framebuffer memfd QEMU shared with us, read-only; the mapping outlives the fd. */
export function mapSharedFd(fd: number, offset: number, length: number): Uint8Array {
  return new Uint8Array(mapFd(fd, offset, length, false));
}

export { closeFd };

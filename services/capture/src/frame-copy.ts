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
 * Maps a framebuffer memfd QEMU shared with us, read-only; the mapping outlives the fd. Only a file
 * sealed against shrinking (F_SEAL_SHRINK) and already large enough: a mapped file truncated later
 * would SIGBUS us on the next read. QEMU seals its shareable surfaces (F_SEAL_GROW | F_SEAL_SHRINK |
 * F_SEAL_SEAL, qemu_memfd_alloc); anything else is refused with a ProtocolError, and QEMU, whose
 * ScanoutMap then fails, sends this listener inline Scanout/Update from then on.
 */
export function mapSharedFd(fd: number, offset: number, length: number): Uint8Array {
  const info = sharedFdInfo(fd);
  if ((info.seals & F_SEAL_SHRINK) === 0) {
    throw new ProtocolError(
      `the framebuffer fd is not sealed against shrinking (seals 0x${info.seals.toString(16)}${info.sealable ? '' : ', not sealable'})`,
    );
  }
  if (info.size < offset + length) {
    throw new ProtocolError(`the framebuffer fd has ${info.size} bytes, ${offset + length} are needed`);
  }
  return new Uint8Array(mapFd(fd, offset, length, false));
}

export { closeFd };

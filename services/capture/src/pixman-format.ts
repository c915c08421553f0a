import { qemu_webrtc } from '@qemu-webrtc/proto';

const { PixelFormat } = qemu_webrtc.v1;

/** pixman format codes QEMU uses for 32-bit consoles (little-endian memory order B,G,R,X/A). */
export const PIXMAN_X8R8G8B8 = 0x20020888;
export const PIXMAN_A8R8G8B8 = 0x20028888;

/** DRM fourccs for the same layouts (gl=on scanouts). */
export const DRM_FORMAT_XRGB8888 = 0x34325258; // 'XR24'
export const DRM_FORMAT_ARGB8888 = 0x34325241; // 'AR24'

/** Our PixelFormat for a pixman code, or undefined when we cannot carry it. */
export function pixelFormatFromPixman(code: number): qemu_webrtc.v1.PixelFormat | undefined {
  if (code === PIXMAN_X8R8G8B8) return PixelFormat.PIXEL_FORMAT_BGRX;
  if (code === PIXMAN_A8R8G8B8) return PixelFormat.PIXEL_FORMAT_BGRA;
  return undefined;
}

export function pixelFormatFromFourcc(fourcc: number): qemu_webrtc.v1.PixelFormat | undefined {
  if (fourcc === DRM_FORMAT_XRGB8888) return PixelFormat.PIXEL_FORMAT_BGRX;
  if (fourcc === DRM_FORMAT_ARGB8888) return PixelFormat.PIXEL_FORMAT_BGRA;
  return undefined;
}

export const BYTES_PER_PIXEL = 4;
/** Largest console we accept (QEMU's own limit is 16384 in each direction for most devices). */
export const MAX_DIMENSION = 16384;

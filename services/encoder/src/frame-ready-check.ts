import { qemu_webrtc } from '@qemu-webrtc/proto';
import { isRingName, type RingCache } from './ring-cache.js';

const { PixelFormat } = qemu_webrtc.v1;

/** Frames wider or taller than this are impossible (QEMU's own limit is lower). */
export const MAX_FRAME_SIDE = 16384;

/**
 * Why a FrameReady from the bus names no frame we could read (undefined: it may). Checked before
 * any stream takes it, so a forged or broken one costs a counter, not an encode attempt, a
 * newest-frame slot or a stack trace: bad ring names (paths), unknown formats, absurd sizes, rings
 * that do not exist or have another generation, slots past the ring's end.
 */
export function frameReadyProblem(
  f: qemu_webrtc.v1.FrameReady,
  /**
   * Given when a stream of ours wants the frame: its ring must open at the generation named, and
   * it becomes the console's current ring; the slot must be within it.
   */
  rings: RingCache | undefined,
): string | undefined {
  if (!isRingName(f.ringName)) return 'ring_name';
  if (f.format !== PixelFormat.PIXEL_FORMAT_BGRX && f.format !== PixelFormat.PIXEL_FORMAT_BGRA)
    return 'format';
  if (f.width < 1 || f.height < 1 || f.width > MAX_FRAME_SIDE || f.height > MAX_FRAME_SIDE) return 'geometry';
  if (f.stride < f.width * 4 || f.stride > MAX_FRAME_SIDE * 4) return 'geometry';
  if (!rings) return undefined;
  let slots: number;
  try {
    slots = rings.adopt(`${f.vmId}.${f.consoleId}`, f.ringName, f.ringGeneration).slotCount;
  } catch {
    return 'ring';
  }
  return f.slot < slots ? undefined : 'slot';
}

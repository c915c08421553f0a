// The bounds of one input event, shared by signaling (what a page may send) and input (what it
// passes to QEMU): one definition, so the two can never disagree about what is absurd.

/** Absolute pointer and touch coordinates (console pixels) at most; QEMU takes them as u32. */
export const MAX_INPUT_COORD = 65_535;
/** Relative pointer motion per event (pixels, either sign) at most. */
export const MAX_INPUT_REL_DELTA = 10_000;
/** Wheel delta per event (browser pixels, either sign) at most. */
export const MAX_INPUT_WHEEL_DELTA = 100_000;
/** Touch slots a viewer may name: 0..MAX_INPUT_TOUCH_SLOT (QEMU's MaxSlots is checked per console). */
export const MAX_INPUT_TOUCH_SLOT = 31;

/**
 * Console.SetUIInfo sizes (device pixels) are held within these bounds: QEMU passes them to the
 * display device and on to the guest as is (0 disables the output; a guest may try to allocate
 * whatever it is told).
 */
export const UI_INFO_MIN_WIDTH = 320;
export const UI_INFO_MIN_HEIGHT = 200;
export const UI_INFO_MAX_SIZE = 8192;
/** Physical sizes (mm, QEMU takes them as u16); 0 means unknown. */
export const UI_INFO_MAX_MM = 10_000;

/** A SetUIInfo size held within the bounds above (integers; NaN becomes the minimum). */
export function clampUiInfo(s: { width: number; height: number; widthMm: number; heightMm: number }): {
  width: number;
  height: number;
  widthMm: number;
  heightMm: number;
} {
  const clamp = (v: number, lo: number, hi: number): number =>
    Number.isFinite(v) ? Math.min(hi, Math.max(lo, Math.round(v))) : lo;
  return {
    width: clamp(s.width, UI_INFO_MIN_WIDTH, UI_INFO_MAX_SIZE),
    height: clamp(s.height, UI_INFO_MIN_HEIGHT, UI_INFO_MAX_SIZE),
    widthMm: clamp(s.widthMm, 0, UI_INFO_MAX_MM),
    heightMm: clamp(s.heightMm, 0, UI_INFO_MAX_MM),
  };
}

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

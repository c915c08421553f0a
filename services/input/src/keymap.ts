import { KEYMAP, KEYMAP_SOURCE_SHA256 } from './gen/keymap.js';

export { KEYMAP_SOURCE_SHA256 };

/** QEMU qnum of a KeyboardEvent.code, or undefined for a code keycodemapdb does not map. */
export function qnumOf(code: string): number | undefined {
  return KEYMAP.get(code)?.[1];
}

/** The AT set 1 scancode the guest reads for a code (0xE0xx for extended keys), or undefined. */
export function scancodeOf(code: string): number | undefined {
  return KEYMAP.get(code)?.[0];
}

/** Every KeyboardEvent.code with a qnum. */
export function mappedCodes(): string[] {
  return [...KEYMAP.keys()];
}

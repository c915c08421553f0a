/**
 * QEMU's mouse buttons (InputButton). QEMU 7.2 aborts on Press(9) and 10.0 on Press(10): nothing
 * above WHEEL_RIGHT is ever sent.
 */
export const QemuButton = {
  left: 0,
  middle: 1,
  right: 2,
  wheelUp: 3,
  wheelDown: 4,
  side: 5,
  extra: 6,
  wheelLeft: 7,
  wheelRight: 8,
} as const;
export type QemuButton = (typeof QemuButton)[keyof typeof QemuButton];

export const MAX_QEMU_BUTTON = QemuButton.wheelRight;

/** MouseEvent.button (0 left, 1 middle, 2 right, 3 back, 4 forward) -> QEMU's button. */
const FROM_BROWSER: readonly QemuButton[] = [
  QemuButton.left,
  QemuButton.middle,
  QemuButton.right,
  QemuButton.side,
  QemuButton.extra,
];

/** QEMU's button for a browser button, or undefined for anything else. */
export function qemuButtonOf(browserButton: number): QemuButton | undefined {
  return Number.isInteger(browserButton) ? FROM_BROWSER[browserButton] : undefined;
}

/** The last line of defence before a Mouse.Press/Release call. */
export function isSafeQemuButton(button: number): button is QemuButton {
  return Number.isInteger(button) && button >= 0 && button <= MAX_QEMU_BUTTON;
}

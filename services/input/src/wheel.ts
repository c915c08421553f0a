import { QemuButton } from './buttons.js';

/** More wheel clicks than this from one event are not sent (a hostile or broken delta). */
export const MAX_WHEEL_STEPS_PER_EVENT = 20;

/**
 * Turns browser wheel deltas (pixels, fractional) into whole wheel clicks: deltas accumulate per
 * axis until they reach `stepPx`; a change of direction starts over. Positive dy scrolls down.
 */
export class WheelAccumulator {
  private accX = 0;
  private accY = 0;

  constructor(private readonly stepPx: number) {}

  /** The QEMU wheel buttons to click (press + release each), in order. */
  add(dx: number, dy: number): QemuButton[] {
    this.accY = sameDirection(this.accY, dy) ? this.accY + dy : dy;
    this.accX = sameDirection(this.accX, dx) ? this.accX + dx : dx;
    const stepsY = Math.trunc(this.accY / this.stepPx);
    const stepsX = Math.trunc(this.accX / this.stepPx);
    this.accY -= stepsY * this.stepPx;
    this.accX -= stepsX * this.stepPx;
    const out: QemuButton[] = [];
    const y = stepsY < 0 ? QemuButton.wheelUp : QemuButton.wheelDown;
    const x = stepsX < 0 ? QemuButton.wheelLeft : QemuButton.wheelRight;
    for (let i = 0; i < Math.min(Math.abs(stepsY), MAX_WHEEL_STEPS_PER_EVENT); i++) out.push(y);
    for (let i = 0; i < Math.min(Math.abs(stepsX), MAX_WHEEL_STEPS_PER_EVENT - out.length); i++) out.push(x);
    return out;
  }

  reset(): void {
    this.accX = 0;
    this.accY = 0;
  }
}

function sameDirection(acc: number, d: number): boolean {
  return d === 0 || acc === 0 || Math.sign(acc) === Math.sign(d);
}

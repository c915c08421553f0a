// Finds the test guest's pointer crosshair (packages/demo-vm/guest/pointer.c): magenta, 25 px across and down.
import type { GuestScreenImage } from '@qemu-webrtc/test-kit';

const ARM = 12;

function isMagenta(img: GuestScreenImage, x: number, y: number): boolean {
  const bpp = img.layout === 'rgb' ? 3 : 4;
  const p = y * img.stride + x * bpp;
  const [r, g, b] =
    img.layout === 'bgrx'
      ? [img.data[p + 2], img.data[p + 1], img.data[p]]
      : [img.data[p], img.data[p + 1], img.data[p + 2]];
  return r === 255 && g === 0 && b === 255;
}

/** Centres of the whole crosshairs on the screen (away from the edges, where arms are clipped). */
export function findCrosshairs(img: GuestScreenImage): { x: number; y: number }[] {
  const found: { x: number; y: number }[] = [];
  for (let y = ARM; y < img.height - ARM; y++) {
    let run = 0;
    for (let x = 0; x <= img.width; x++) {
      if (x < img.width && isMagenta(img, x, y)) {
        run++;
        continue;
      }
      if (run === 2 * ARM + 1) {
        const cx = x - 1 - ARM;
        let vertical = true;
        for (let k = 1; k <= ARM && vertical; k++) {
          vertical = isMagenta(img, cx, y - k) && isMagenta(img, cx, y + k);
        }
        if (vertical) found.push({ x: cx, y });
      }
      run = 0;
    }
  }
  return found;
}

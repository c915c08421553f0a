import { boundingBox, type Rect } from '@qemu-webrtc/frame-ring';

export type { Rect };

/** Adds `rect` to a damage list, merging into the bounding box past `limit` rectangles. */
export function addDamage(list: Rect[], rect: Rect, limit = 16): void {
  list.push(rect);
  if (list.length > limit) {
    const box = boundingBox(list);
    list.length = 0;
    list.push(box);
  }
}

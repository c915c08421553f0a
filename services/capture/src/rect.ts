export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The smallest rectangle covering all of `rects` (undefined for none). */
export function boundingBox(rects: readonly Rect[]): Rect | undefined {
  if (rects.length === 0) return undefined;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const r of rects) {
    x0 = Math.min(x0, r.x);
    y0 = Math.min(y0, r.y);
    x1 = Math.max(x1, r.x + r.width);
    y1 = Math.max(y1, r.y + r.height);
  }
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Adds `rect` to a damage list, merging into the bounding box past `limit` rectangles. */
export function addDamage(list: Rect[], rect: Rect, limit = 16): void {
  list.push(rect);
  if (list.length > limit) {
    const box = boundingBox(list);
    list.length = 0;
    if (box) list.push(box);
  }
}

// Per-slot damage: which parts of a slot are stale (changed since that slot was last written).

/** A rectangle in pixels; (x, y) is its top-left corner. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** More pending rectangles than this are replaced by their bounding box. */
export const MAX_DAMAGE_RECTS = 16;

/** The part of `r` inside a width x height frame, or null when nothing is. */
export function clipRect(r: Rect, width: number, height: number): Rect | null {
  const x0 = Math.max(0, r.x);
  const y0 = Math.max(0, r.y);
  const x1 = Math.min(width, r.x + r.width);
  const y1 = Math.min(height, r.y + r.height);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
}

export function contains(outer: Rect, inner: Rect): boolean {
  return (
    inner.x >= outer.x &&
    inner.y >= outer.y &&
    inner.x + inner.width <= outer.x + outer.width &&
    inner.y + inner.height <= outer.y + outer.height
  );
}

export function boundingBox(rects: readonly Rect[]): Rect {
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

/**
 * The stale regions of each slot of a ring. A slot never written (or whose write was abandoned)
 * is stale everywhere.
 */
export class SlotDamage {
  readonly #width: number;
  readonly #height: number;
  /** null: the whole frame. */
  readonly #pending: (Rect[] | null)[];

  constructor(slotCount: number, width: number, height: number) {
    this.#width = width;
    this.#height = height;
    this.#pending = Array.from({ length: slotCount }, () => null);
  }

  /** Adds a (clipped) rectangle to every slot's pending damage. */
  add(rect: Rect): void {
    const r = clipRect(rect, this.#width, this.#height);
    if (r === null) return;
    const full = r.width === this.#width && r.height === this.#height;
    for (let i = 0; i < this.#pending.length; i++) {
      const list = this.#pending[i];
      if (list === null || list === undefined) continue;
      if (full) {
        this.#pending[i] = null;
      } else if (!list.some((d) => contains(d, r))) {
        const next = list.filter((d) => !contains(r, d));
        next.push(r);
        this.#pending[i] = next.length > MAX_DAMAGE_RECTS ? [boundingBox(next)] : next;
      }
    }
  }

  /** The slot's pending damage, which is then cleared (the caller brings the slot up to date). */
  take(slot: number): Rect[] {
    const list = this.#pending[slot];
    this.#pending[slot] = [];
    return list === null || list === undefined
      ? [{ x: 0, y: 0, width: this.#width, height: this.#height }]
      : list;
  }

  /** Marks the slot stale everywhere (its write was abandoned). */
  invalidate(slot: number): void {
    this.#pending[slot] = null;
  }
}

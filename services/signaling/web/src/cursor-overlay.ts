import type { ContentBox } from './geometry.js';

const SHAPE = 1;
const POSITION = 2;

/**
 * Draws the guest's cursor from the "cursor" channel's messages over the video: shape (RGBA with
 * hotspot) and position, in console pixels, scaled like the picture. While the local pointer is
 * over the picture (absolute mouse) the cursor follows it at once instead of waiting for the guest.
 */
export class CursorOverlay {
  private image: ImageBitmap | undefined;
  private hotX = 0;
  private hotY = 0;
  private width = 0;
  private height = 0;
  private guestX = 0;
  private guestY = 0;
  private visible = false;
  private localX: number | undefined;
  private localY: number | undefined;
  /** A cursor shape came from the guest: the page hides its own pointer. */
  hasShape = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly geometry: () => { box: ContentBox; consoleWidth: number; consoleHeight: number },
  ) {}

  async onMessage(data: ArrayBuffer): Promise<void> {
    const view = new DataView(data);
    if (data.byteLength < 12) return;
    const type = view.getUint8(0);
    if (type === SHAPE && data.byteLength >= 16) {
      const w = view.getUint16(2, true);
      const h = view.getUint16(4, true);
      if (w === 0 || h === 0 || data.byteLength < 16 + w * h * 4) return;
      const pixels = new Uint8ClampedArray(data, 16, w * h * 4);
      this.image?.close();
      this.image = await createImageBitmap(new ImageData(new Uint8ClampedArray(pixels), w, h));
      this.width = w;
      this.height = h;
      this.hotX = view.getInt16(6, true);
      this.hotY = view.getInt16(8, true);
      this.hasShape = true;
      this.visible = true;
    } else if (type === POSITION) {
      this.visible = view.getUint8(1) === 1;
      this.guestX = view.getInt32(4, true);
      this.guestY = view.getInt32(8, true);
    }
    this.draw();
  }

  /** The local pointer, in stage CSS pixels (undefined: not over the picture). */
  setLocal(x: number | undefined, y: number | undefined): void {
    this.localX = x;
    this.localY = y;
    this.draw();
  }

  draw(): void {
    const { box, consoleWidth, consoleHeight } = this.geometry();
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    const stage = this.canvas.parentElement;
    const cw = Math.round((stage?.clientWidth ?? 0) * dpr);
    const ch = Math.round((stage?.clientHeight ?? 0) * dpr);
    if (this.canvas.width !== cw || this.canvas.height !== ch) {
      this.canvas.width = cw;
      this.canvas.height = ch;
      this.canvas.style.width = `${cw / dpr}px`;
      this.canvas.style.height = `${ch / dpr}px`;
    }
    ctx.clearRect(0, 0, cw, ch);
    if (!this.image || !this.visible || consoleWidth <= 0 || consoleHeight <= 0) return;
    const scale = box.width / consoleWidth;
    const x =
      this.localX !== undefined ? this.localX : box.left + (this.guestX + 0.5) * (box.width / consoleWidth);
    const y =
      this.localY !== undefined ? this.localY : box.top + (this.guestY + 0.5) * (box.height / consoleHeight);
    ctx.imageSmoothingEnabled = scale < 1;
    ctx.drawImage(
      this.image,
      (x - this.hotX * scale) * dpr,
      (y - this.hotY * scale) * dpr,
      this.width * scale * dpr,
      this.height * scale * dpr,
    );
  }
}

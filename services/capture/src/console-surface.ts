import { ProtocolError } from '@qemu-webrtc/common';
import type { qemu_webrtc } from '@qemu-webrtc/proto';
import { closeFd, copyRect, mappable, mapSharedFd, readSharedRows } from './frame-copy.js';
import { BYTES_PER_PIXEL, MAX_DIMENSION, pixelFormatFromPixman } from './pixman-format.js';
import type { Rect } from './rect.js';

export type SurfaceKind = 'none' | 'inline' | 'map' | 'dmabuf';

export interface SurfaceGeometry {
  width: number;
  height: number;
  stride: number;
  format: qemu_webrtc.v1.PixelFormat;
}

function checkSize(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ProtocolError(`invalid size ${width}x${height}`);
  }
  if (width > MAX_DIMENSION || height > MAX_DIMENSION) {
    throw new ProtocolError(`size ${width}x${height} exceeds ${MAX_DIMENSION}`);
  }
}

function formatOf(pixman: number): qemu_webrtc.v1.PixelFormat {
  const format = pixelFormatFromPixman(pixman);
  if (format === undefined) throw new ProtocolError(`unsupported pixman format 0x${pixman.toString(16)}`);
  return format;
}

/**
 * A console's current framebuffer in our memory, as QEMU last described it: the pixels of an inline
 * Scanout (kept without copying), QEMU's shared memfd (Unix.Map), or a CPU copy of a DMA-BUF. Every
 * change returns the damaged rectangle; bad input throws ProtocolError and leaves the surface as it was.
 */
export class ConsoleSurface {
  kind: SurfaceKind = 'none';
  geometry: SurfaceGeometry | undefined;
  pixels: Uint8Array | undefined;
  /** QEMU's memfd when it is read (not mapped): see scanoutMap. */
  private source: { fd: number; offset: number } | undefined;

  /** Scanout(width, height, stride, format, data): a whole new frame, inline. */
  scanout(width: number, height: number, stride: number, pixman: number, data: Uint8Array): Rect {
    checkSize(width, height);
    const format = formatOf(pixman);
    if (stride < width * BYTES_PER_PIXEL) throw new ProtocolError(`stride ${stride} < width ${width} * 4`);
    const needed = stride * (height - 1) + width * BYTES_PER_PIXEL;
    if (data.byteLength < needed) {
      throw new ProtocolError(
        `Scanout ${width}x${height} stride ${stride} needs ${needed} bytes, got ${data.byteLength}`,
      );
    }
    this.dropSource();
    this.kind = 'inline';
    this.geometry = { width, height, stride, format };
    this.pixels = data;
    return { x: 0, y: 0, width, height };
  }

  /** Update(x, y, w, h, stride, format, data): a rectangle of new pixels (packed rows). */
  update(
    x: number,
    y: number,
    width: number,
    height: number,
    stride: number,
    pixman: number,
    data: Uint8Array,
  ): Rect {
    if (x < 0 || y < 0) throw new ProtocolError(`Update at negative position ${x},${y}`);
    checkSize(width, height);
    const format = formatOf(pixman);
    if (stride < width * BYTES_PER_PIXEL)
      throw new ProtocolError(`Update stride ${stride} < width ${width} * 4`);
    if (data.byteLength < stride * (height - 1) + width * BYTES_PER_PIXEL) {
      throw new ProtocolError(`Update ${width}x${height} stride ${stride} has only ${data.byteLength} bytes`);
    }
    if (this.kind !== 'inline' || !this.geometry || !this.pixels || this.geometry.format !== format) {
      // An Update before any Scanout (or after a format change): start a blank surface of the right format.
      this.allocate(x + width, y + height, format);
    } else if (x + width > this.geometry.width || y + height > this.geometry.height) {
      // A resize can show up as Updates beyond the last Scanout (the new size is only on the bus): grow.
      this.allocate(
        Math.max(x + width, this.geometry.width),
        Math.max(y + height, this.geometry.height),
        format,
      );
    }
    const g = this.geometry as SurfaceGeometry;
    copyRect(data, stride, 0, 0, this.pixels as Uint8Array, g.stride, x, y, width, height);
    return { x, y, width, height };
  }

  /**
   * ScanoutMap(fd, offset, w, h, stride, format): QEMU's framebuffer in a memfd. Mapped read-only
   * when sealed against shrinking; otherwise (QEMU 10's virtio-gpu memfds carry only F_SEAL_SEAL)
   * kept open and read with pread into a copy of our own, rows as QEMU reports them, so that a
   * truncated file costs a short read, not a SIGBUS. `keptFd`: the surface owns the fd now.
   */
  scanoutMap(
    fd: number,
    offset: number,
    width: number,
    height: number,
    stride: number,
    pixman: number,
  ): { rect: Rect; keptFd: boolean; seals: number } {
    checkSize(width, height);
    const format = formatOf(pixman);
    if (stride < width * BYTES_PER_PIXEL)
      throw new ProtocolError(`ScanoutMap stride ${stride} < width ${width} * 4`);
    let state: { ok: boolean; seals: number };
    try {
      state = mappable(fd, offset, stride * height);
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      throw new ProtocolError(`cannot inspect QEMU's framebuffer fd: ${String(error)}`, { cause: error });
    }
    const rect = { x: 0, y: 0, width, height };
    if (!state.ok) {
      const pixels = new Uint8Array(stride * height);
      readSharedRows(fd, offset, pixels, stride, 0, height);
      this.dropSource();
      this.kind = 'inline';
      this.geometry = { width, height, stride, format };
      this.pixels = pixels;
      this.source = { fd, offset };
      return { rect, keptFd: true, seals: state.seals };
    }
    let mapped: Uint8Array;
    try {
      mapped = mapSharedFd(fd, offset, stride * height);
    } catch (error) {
      throw new ProtocolError(`cannot map QEMU's framebuffer fd: ${String(error)}`, { cause: error });
    }
    this.dropSource();
    this.kind = 'map';
    this.geometry = { width, height, stride, format };
    this.pixels = mapped;
    return { rect, keptFd: false, seals: state.seals };
  }

  /** UpdateMap(x, y, w, h): QEMU changed this rectangle of the shared framebuffer. */
  updateMap(x: number, y: number, width: number, height: number): Rect {
    if (this.source && this.kind === 'inline' && this.geometry && this.pixels) {
      const rect = this.clip(x, y, width, height, 'UpdateMap');
      readSharedRows(
        this.source.fd,
        this.source.offset,
        this.pixels,
        this.geometry.stride,
        rect.y,
        rect.height,
      );
      return rect;
    }
    if (this.kind !== 'map' || !this.geometry) throw new ProtocolError('UpdateMap without a ScanoutMap');
    return this.clip(x, y, width, height, 'UpdateMap');
  }

  /** Closes the memfd kept for reading (a new scanout of any kind replaces it). */
  private dropSource(): void {
    if (this.source) closeFd(this.source.fd);
    this.source = undefined;
  }

  /** A DMA-BUF scanout: we keep a CPU copy (read back by EGL) of the given size. */
  scanoutDmabuf(width: number, height: number, format: qemu_webrtc.v1.PixelFormat): Rect {
    checkSize(width, height);
    this.dropSource();
    this.allocate(width, height, format);
    this.kind = 'dmabuf';
    return { x: 0, y: 0, width, height };
  }

  /** Clips a damage rectangle to the surface; throws when nothing of it is inside. */
  clip(x: number, y: number, width: number, height: number, what: string): Rect {
    const g = this.geometry;
    if (!g) throw new ProtocolError(`${what} before any scanout`);
    const x0 = Math.max(0, x);
    const y0 = Math.max(0, y);
    const x1 = Math.min(g.width, x + width);
    const y1 = Math.min(g.height, y + height);
    if (!(x1 > x0 && y1 > y0))
      throw new ProtocolError(`${what} ${x},${y} ${width}x${height} outside ${g.width}x${g.height}`);
    return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  }

  disable(): void {
    this.dropSource();
    this.kind = 'none';
    this.geometry = undefined;
    this.pixels = undefined;
  }

  private allocate(width: number, height: number, format: qemu_webrtc.v1.PixelFormat): void {
    checkSize(width, height);
    const stride = width * BYTES_PER_PIXEL;
    const pixels = new Uint8Array(stride * height);
    const old = this.geometry;
    if (old && this.pixels && old.format === format) {
      const w = Math.min(old.width, width);
      const h = Math.min(old.height, height);
      copyRect(this.pixels, old.stride, 0, 0, pixels, stride, 0, 0, w, h);
    }
    this.kind = 'inline';
    this.geometry = { width, height, stride, format };
    this.pixels = pixels;
  }
}

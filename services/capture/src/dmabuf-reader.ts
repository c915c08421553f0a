import { ProtocolError, type Logger } from '@qemu-webrtc/common';
import type { qemu_webrtc } from '@qemu-webrtc/proto';
import { EglImporter } from './native.js';
import { BYTES_PER_PIXEL, pixelFormatFromFourcc } from './pixman-format.js';
import type { Rect } from './rect.js';

export interface DmabufDescription {
  fds: number[];
  width: number;
  height: number;
  fourcc: number;
  modifier: bigint;
  offsets: number[];
  strides: number[];
}

/**
 * Reads gl=on scanouts: imports QEMU's DMA-BUFs with EGL (any modifier the driver knows) on the
 * importer's own GL thread, and reads damaged rectangles back into a CPU surface, top-down.
 */
export class DmabufReader {
  private readonly importer: EglImporter;
  /** Handles imported and not yet released. */
  private readonly live = new Set<number>();

  constructor(
    device: string | undefined,
    logger: Logger,
    private readonly onLiveChange: (live: number) => void = () => undefined,
  ) {
    this.importer = new EglImporter(device !== undefined ? { device } : {});
    this.importer
      .info()
      .then((info) =>
        logger.info({ vendor: info.vendor, renderer: info.renderer }, 'EGL ready for DMA-BUF import'),
      )
      .catch((error: unknown) =>
        logger.error({ err: error }, 'EGL is not usable: gl=on consoles cannot be captured'),
      );
  }

  /** Our pixel format for a DMA-BUF fourcc; unsupported ones are bad input. */
  formatOf(fourcc: number): qemu_webrtc.v1.PixelFormat {
    const format = pixelFormatFromFourcc(fourcc);
    if (format === undefined) throw new ProtocolError(`unsupported DMA-BUF fourcc 0x${fourcc.toString(16)}`);
    return format;
  }

  async import(desc: DmabufDescription): Promise<number> {
    const handle = await this.importer.importDmabuf(desc);
    this.live.add(handle);
    this.onLiveChange(this.live.size);
    return handle;
  }

  /** Imported images not yet released. */
  get liveImages(): number {
    return this.live.size;
  }

  /** Reads `rect` of the imported buffer into the same place of `target` (rows of `stride` bytes). */
  read(handle: number, rect: Rect, target: Uint8Array, stride: number, yFlip: boolean): Promise<void> {
    return this.importer.readPixels(handle, {
      ...rect,
      target,
      targetOffset: rect.y * stride + rect.x * BYTES_PER_PIXEL,
      targetStride: stride,
      yFlip,
    });
  }

  release(handle: number): void {
    if (!this.live.delete(handle)) return;
    this.onLiveChange(this.live.size);
    this.importer.release(handle);
  }

  close(): Promise<void> {
    return this.importer.close();
  }
}

import { basename } from 'node:path';
import {
  nowUs,
  publishProto,
  subjects,
  type Logger,
  type NatsConnection,
  type PublishGate,
} from '@qemu-webrtc/common';
import { FrameRingWriter, type PixelFormat, type SlotWrite, uniqueRingName } from '@qemu-webrtc/frame-ring';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { ConsoleSurface } from './console-surface.js';
import { copyRect } from './frame-copy.js';
import type { CaptureMetrics } from './metrics.js';
import { addDamage, type Rect } from './rect.js';

const { FrameReady } = qemu_webrtc.v1;

/** The ring stores the contract's PixelFormat numbers under its own type. */
const ringFormat = (format: qemu_webrtc.v1.PixelFormat): PixelFormat => format as number as PixelFormat;

/** What a console's ring names start with (uniqueRingName appends the writer's identity). */
const ringLabel = (vmId: string, consoleId: number): string => `qemu-webrtc-${vmId}-${consoleId}`;

/** Whether a ring label (parseRingName) is one of this VM's consoles'. */
export function isRingLabelOf(vmId: string): (label: string) => boolean {
  const prefix = `qemu-webrtc-${vmId}-`;
  return (label) => label.startsWith(prefix) && /^\d+$/.test(label.slice(prefix.length));
}

export interface FramePublisherOptions {
  nc: NatsConnection;
  gate: PublishGate;
  vmId: string;
  consoleId: number;
  ringDir: string;
  ringSlots: number;
  maxFps: number;
  metrics: CaptureMetrics;
  logger: Logger;
}

/**
 * Turns a console's damage into frames: coalesces damage, and at most maxFps times a second copies
 * what changed into the next ring slot and announces it with FrameReady. Nothing is published when
 * nothing changed. The ring is re-created (new generation) when the geometry changes.
 *
 * QEMU's shared framebuffer (Unix.Map) is QEMU's to rewrite at any moment: a virtio-gpu guest's next
 * transfer may land while we wait for the frame-rate limit. So for that surface each damaged
 * rectangle is copied into the slot being prepared as soon as QEMU reports it (the slot is
 * committed later); other surfaces are ours and are copied at publish time.
 */
export class FramePublisher {
  private ring: FrameRingWriter | undefined;
  /** The slot being prepared (Unix.Map surfaces: already holds every damaged rectangle). */
  private staged: SlotWrite | undefined;
  private generation = 0;
  private sequence = 0;
  private pending: Rect[] = [];
  private firstDamageUs = 0;
  private lastPublishMs = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private destroyed = false;
  /** The last FrameReady published: its slot stays the ring's newest until the next publish. */
  private last: qemu_webrtc.v1.IFrameReady | undefined;

  constructor(
    private readonly surface: ConsoleSurface,
    private readonly opts: FramePublisherOptions,
  ) {}

  /** Records damage (in surface pixels) and schedules a publish. */
  damage(rect: Rect, receivedUs: number): void {
    if (this.destroyed) return;
    if (this.pending.length === 0) this.firstDamageUs = receivedUs;
    addDamage(this.pending, rect);
    this.ring?.markDamage(rect);
    if (this.surface.kind === 'map') this.stage(rect);
    this.schedule();
  }

  /** Copies a rectangle of QEMU's shared framebuffer into the slot being prepared, now. */
  private stage(rect: Rect): void {
    const g = this.surface.geometry;
    const pixels = this.surface.pixels;
    const ring = this.ensureRing();
    if (!g || !pixels || !ring) return;
    if (this.staged) {
      copyRect(
        pixels,
        g.stride,
        rect.x,
        rect.y,
        this.staged.pixels,
        ring.stride,
        rect.x,
        rect.y,
        rect.width,
        rect.height,
      );
      return;
    }
    // beginWrite's damage includes `rect` (marked above) and whatever else this slot lacks.
    this.staged = ring.beginWrite();
    for (const r of this.staged.damage) {
      copyRect(pixels, g.stride, r.x, r.y, this.staged.pixels, ring.stride, r.x, r.y, r.width, r.height);
    }
  }

  private schedule(): void {
    if (this.timer || this.immediate) return;
    const interval = 1000 / this.opts.maxFps;
    const wait = this.lastPublishMs + interval - performance.now();
    if (wait <= 0) {
      // Let the rest of this socket read (more Updates of the same refresh) land first.
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.publish();
      });
    } else {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.publish();
      }, wait);
    }
  }

  private ensureRing(): FrameRingWriter | undefined {
    const g = this.surface.geometry;
    if (!g) return undefined;
    const r = this.ring;
    if (r && r.width === g.width && r.height === g.height && r.format === ringFormat(g.format)) return r;
    r?.destroy();
    this.staged = undefined;
    this.generation++;
    this.ring = FrameRingWriter.create({
      dir: this.opts.ringDir,
      // Never a name used before (this process or another): encoders cache open rings by name.
      name: uniqueRingName(ringLabel(this.opts.vmId, this.opts.consoleId)),
      width: g.width,
      height: g.height,
      format: ringFormat(g.format),
      slots: this.opts.ringSlots,
      generation: this.generation,
    });
    this.opts.logger.info({ ring: this.ring.path, width: g.width, height: g.height }, 'frame ring created');
    return this.ring;
  }

  private publish(): void {
    if (this.destroyed || this.pending.length === 0) return;
    const g = this.surface.geometry;
    const pixels = this.surface.pixels;
    const ring = this.ensureRing();
    if (!g || !pixels || !ring) return;
    if (!this.opts.gate.tryAcquire()) {
      // NATS is not keeping up: skip this frame; the damage waits for the next chance.
      this.opts.metrics.framesDropped.inc({ reason: 'nats' });
      this.lastPublishMs = performance.now();
      this.schedule();
      return;
    }
    const damage = this.pending;
    this.pending = [];
    this.lastPublishMs = performance.now();
    let slot = this.staged;
    this.staged = undefined;
    if (!slot) {
      slot = ring.beginWrite();
      for (const r of slot.damage) {
        copyRect(pixels, g.stride, r.x, r.y, slot.pixels, ring.stride, r.x, r.y, r.width, r.height);
      }
    } else if (this.surface.kind !== 'map') {
      // Staged while the surface was QEMU's memfd; it changed kind since: bring in the rest.
      for (const r of damage) {
        copyRect(pixels, g.stride, r.x, r.y, slot.pixels, ring.stride, r.x, r.y, r.width, r.height);
      }
    }
    const sequence = ++this.sequence;
    const publishedUs = nowUs();
    ring.commitWrite(slot.slot, sequence, publishedUs);
    this.last = {
      vmId: this.opts.vmId,
      consoleId: this.opts.consoleId,
      ringName: basename(ring.path),
      ringGeneration: ring.generation,
      slot: slot.slot,
      sequence,
      width: g.width,
      height: g.height,
      stride: ring.stride,
      format: g.format,
      damage,
      qemuReceivedUs: this.firstDamageUs,
      publishedUs,
      topDown: true,
    };
    publishProto(
      this.opts.nc,
      subjects.frameReady(this.opts.vmId, this.opts.consoleId),
      FrameReady,
      this.last,
    );
    this.opts.metrics.framesPublished.inc();
    this.opts.metrics.captureLatency.observe((publishedUs - this.firstDamageUs) / 1e6);
  }

  /**
   * Announces the newest frame again (an encoder starting a stream on demand, after the console's
   * last change, has nothing to encode otherwise). Nothing when a publish is due anyway, or the
   * ring was re-created since.
   */
  reannounce(): void {
    const last = this.last;
    const ring = this.ring;
    if (this.destroyed || !last || !ring || this.pending.length > 0) return;
    if (last.ringName !== basename(ring.path) || last.ringGeneration !== ring.generation) return;
    if (!this.opts.gate.tryAcquire()) return;
    publishProto(this.opts.nc, subjects.frameReady(this.opts.vmId, this.opts.consoleId), FrameReady, last);
    this.opts.metrics.framesReannounced.inc();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.ring?.destroy();
    this.ring = undefined;
  }
}

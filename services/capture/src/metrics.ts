import { Counter, Gauge, Histogram, createRegistry, type Registry } from '@qemu-webrtc/common';

/** What capture counts: frames in from QEMU, frames out on NATS, drops, and the time between. */
export class CaptureMetrics {
  readonly registry: Registry = createRegistry('capture');
  readonly qemuMessages = new Counter({
    name: 'capture_qemu_messages_total',
    help: 'Listener calls received from QEMU, by method',
    labelNames: ['method'],
    registers: [this.registry],
  });
  readonly framesPublished = new Counter({
    name: 'capture_frames_published_total',
    help: 'FrameReady messages published',
    registers: [this.registry],
  });
  readonly framesDropped = new Counter({
    name: 'capture_frames_dropped_total',
    help: 'Frames or QEMU messages dropped, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly busDropped = new Counter({
    name: 'capture_bus_messages_dropped_total',
    help: 'Messages from NATS dropped, by reason (refresh requests with a body, or coalesced)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly dmabufImages = new Gauge({
    name: 'capture_dmabuf_images',
    help: 'DMA-BUFs imported with EGL and not yet released (one per gl=on console at most)',
    registers: [this.registry],
  });
  readonly captureLatency = new Histogram({
    name: 'capture_qemu_to_frame_ready_seconds',
    help: 'Time from the first QEMU message of a frame to its FrameReady',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
    registers: [this.registry],
  });
}

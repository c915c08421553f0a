import { Counter, Gauge, Histogram, createRegistry, type Registry } from '@qemu-webrtc/common';
import type { Backlog } from './backlog-probe.js';

/**
 * What capture counts: frames in from QEMU, frames out on NATS, drops, the time between, and how far
 * behind QEMU capture reads (QEMU's backlog).
 */
export class CaptureMetrics {
  readonly registry: Registry = createRegistry('capture');
  /** Each console's backlog, read when the metrics are scraped. */
  readonly backlogs = new Map<number, () => Backlog>();
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
  readonly framesReannounced = new Counter({
    name: 'capture_frames_reannounced_total',
    help: 'FrameReady of an unchanged newest frame published again on a refresh request (an encoder starting on demand)',
    registers: [this.registry],
  });
  readonly framesDropped = new Counter({
    name: 'capture_frames_dropped_total',
    help: 'Frames or QEMU messages dropped, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly refreshRequests = new Counter({
    name: 'capture_refresh_requests_total',
    help: 'Console refresh requests from the bus: answered, folded into an answer already due, or dropped for a body',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly audioChunks = new Counter({
    name: 'capture_audio_chunks_total',
    help: "QEMU's audio Writes: published, or dropped (bad, NATS stalled), by outcome",
    labelNames: ['outcome'],
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
  readonly qemuBacklogSeconds = new Gauge({
    name: 'capture_qemu_backlog_seconds',
    help: "How long QEMU's display messages wait in its queue for capture to read them, by console",
    labelNames: ['console'],
    registers: [this.registry],
    collect: () => {
      this.qemuBacklogSeconds.reset();
      for (const [id, read] of this.backlogs) this.qemuBacklogSeconds.set({ console: id }, read().seconds);
    },
  });
  readonly qemuBacklogBytes = new Gauge({
    name: 'capture_qemu_backlog_bytes',
    help: 'Bytes QEMU had queued for capture ahead of its last ping reply, by console',
    labelNames: ['console'],
    registers: [this.registry],
    collect: () => {
      this.qemuBacklogBytes.reset();
      for (const [id, read] of this.backlogs) this.qemuBacklogBytes.set({ console: id }, read().bytes);
    },
  });
  readonly listenerResets = new Counter({
    name: 'capture_listener_resets_total',
    help: "Listener links dropped and registered again to empty QEMU's queue, by reason",
    labelNames: ['reason'],
    registers: [this.registry],
  });
}

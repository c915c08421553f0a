import {
  BadInputLog,
  connectNats,
  drainNats,
  PublishGate,
  startMetricsServer,
  subjects,
  type Logger,
  type MetricsServer,
  type NatsConnection,
  type Service,
} from '@qemu-webrtc/common';
import { removeOrphanRings } from '@qemu-webrtc/frame-ring';
import { QemuBusWatcher, type MessageBus } from '@qemu-webrtc/qemu-dbus';
import type { CaptureConfig } from './config.js';
import { DmabufReader } from './dmabuf-reader.js';
import { isRingLabelOf } from './frame-publisher.js';
import { CaptureMetrics } from './metrics.js';
import { VmCapture } from './vm-capture.js';

const INFO_REPUBLISH_MS = 5000;
/**
 * Refresh requests are answered at most this often: anyone on the bus may ask, and a flood of
 * requests must not turn into a flood of ConsoleInfo (nor take NATS from the frames).
 */
const REFRESH_MIN_INTERVAL_MS = 250;

/**
 * The capture service: one per QEMU VM. Waits for QEMU on the bus, captures its graphic consoles,
 * and starts over by itself when QEMU restarts.
 */
export class CaptureService implements Service {
  readonly metrics = new CaptureMetrics();
  private readonly badInput: BadInputLog;
  private readonly watcher: QemuBusWatcher;
  private vm: VmCapture | undefined;
  /** The VM being started for QEMU's latest arrival. */
  private vmStarting: Promise<void> = Promise.resolve();
  private metricsServer: MetricsServer | undefined;
  private dmabufReader: DmabufReader | undefined;
  private infoTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private lastRefreshMs = -Infinity;
  private destroyed = false;
  private readonly gate: PublishGate;

  private constructor(
    readonly config: CaptureConfig,
    private readonly logger: Logger,
    private readonly nc: NatsConnection,
  ) {
    this.gate = new PublishGate(nc);
    this.badInput = new BadInputLog(logger.child({ component: 'bad-input' }));
    this.watcher = this.watchQemu();
  }

  static async create(config: CaptureConfig, logger: Logger): Promise<CaptureService> {
    const nc = await connectNats(
      { url: config.NATS_URL, user: config.NATS_USER, password: config.NATS_PASSWORD, name: 'capture' },
      logger.child({ component: 'nats' }),
    );
    return new CaptureService(config, logger, nc);
  }

  /** The VM currently captured (undefined while QEMU is away). */
  get vmCapture(): VmCapture | undefined {
    return this.vm;
  }

  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  async start(): Promise<void> {
    this.metricsServer = await startMetricsServer({
      host: this.config.HTTP_HOST,
      port: this.config.METRICS_PORT,
      registry: this.metrics.registry,
      health: () => ({
        ok: !this.nc.isClosed(),
        qemu: this.vm !== undefined,
        consoles: [...(this.vm?.captures.keys() ?? [])],
      }),
    });
    // A refresh request is empty; a burst of them is answered once per REFRESH_MIN_INTERVAL_MS.
    this.nc.subscribe(subjects.consoleRefresh, {
      callback: (error, msg) => {
        if (error) return;
        if (msg.data.byteLength > 0) {
          this.metrics.refreshRequests.inc({ outcome: 'with_body' });
          return;
        }
        this.onRefreshRequest();
      },
    });
    this.infoTimer = setInterval(() => this.vm?.republish(), INFO_REPUBLISH_MS);
    // Started once the bus answered and QEMU, when there, is captured.
    this.watcher.start();
    await this.watcher.whenWatching();
    await this.vmStarting;
  }

  /** Follows QEMU on the bus (which may itself go away: restarted, or the VM's host tidied up). */
  private watchQemu(): QemuBusWatcher {
    const address = this.config.DBUS_ADDRESS;
    const watcher = new QemuBusWatcher({ address });
    watcher.on('unreachable', (error) => {
      this.logger.warn({ address, err: error }, 'D-Bus not reachable; retrying');
    });
    watcher.on('disconnected', (_bus, error) => {
      this.logger.warn({ err: error }, 'lost the D-Bus connection; reconnecting');
      this.stopVm();
    });
    watcher.on('watching', (_bus, present) => {
      if (!present) this.logger.info('waiting for QEMU on the bus');
    });
    watcher.on('up', (bus, owner) => {
      this.vmStarting = this.startVm(bus, owner);
    });
    watcher.on('down', (_bus, reason) => {
      if (reason === 'qemu-left') this.logger.warn('QEMU left the bus');
      this.stopVm();
    });
    return watcher;
  }

  private stopVm(): void {
    this.vm?.stop();
    this.vm = undefined;
  }

  private async startVm(bus: MessageBus, owner: string): Promise<void> {
    this.stopVm();
    try {
      const vm = await VmCapture.start({
        bus,
        nc: this.nc,
        gate: this.gate,
        config: this.config,
        dmabuf: () =>
          (this.dmabufReader ??= new DmabufReader(this.config.EGL_DEVICE, this.logger, (n) =>
            this.metrics.dmabufImages.set(n),
          )),
        metrics: this.metrics,
        badInput: this.badInput,
        logger: this.logger,
      });
      // The bus or QEMU may have gone while we started (its VM with it).
      if (this.watcher.bus === bus && this.watcher.qemuOwner === owner && !this.destroyed) {
        this.vm = vm;
        this.removeOrphanRings(vm.vmId);
      } else vm.stop();
    } catch (error) {
      this.logger.error({ err: error }, 'could not start capturing QEMU');
    }
  }

  /** Removes the rings of this VM that a dead capture left behind (killed: it never removed them). */
  private removeOrphanRings(vmId: string): void {
    try {
      const orphans = removeOrphanRings(this.config.RING_DIR, isRingLabelOf(vmId));
      if (orphans.length > 0)
        this.logger.info({ dir: this.config.RING_DIR, orphans }, 'removed orphan frame rings');
    } catch (error) {
      this.logger.warn({ err: error, dir: this.config.RING_DIR }, 'could not look for orphan frame rings');
    }
  }

  /** A refresh request: answered at once, or folded into the one answer due within 250 ms. */
  private onRefreshRequest(): void {
    if (this.refreshTimer !== undefined) {
      this.metrics.refreshRequests.inc({ outcome: 'coalesced' });
      return;
    }
    this.metrics.refreshRequests.inc({ outcome: 'answered' });
    const wait = Math.max(0, this.lastRefreshMs + REFRESH_MIN_INTERVAL_MS - performance.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.lastRefreshMs = performance.now();
      this.vm?.republish();
      this.vm?.reannounceFrames();
    }, wait);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.infoTimer);
    clearTimeout(this.refreshTimer);
    this.watcher.close();
    this.stopVm();
    await this.dmabufReader?.close();
    this.badInput.close();
    await this.metricsServer?.close();
    await drainNats(this.nc);
  }
}

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
import { connectBus, onBusClosed, type MessageBus } from '@qemu-webrtc/qemu-dbus';
import type { CaptureConfig } from './config.js';
import { DmabufReader } from './dmabuf-reader.js';
import { isRingLabelOf } from './frame-publisher.js';
import { CaptureMetrics } from './metrics.js';
import { QemuPresence } from './qemu-presence.js';
import { VmCapture } from './vm-capture.js';

const INFO_REPUBLISH_MS = 5000;
/**
 * Refresh requests are answered at most this often: anyone on the bus may ask, and a flood of
 * requests must not turn into a flood of ConsoleInfo (nor take NATS from the frames).
 */
const REFRESH_MIN_INTERVAL_MS = 250;

/** Resolves once the bus connection said Hello, rejects on the first error before that. */
function openBus(address: string): Promise<MessageBus> {
  return new Promise((resolve, reject) => {
    const bus = connectBus(address);
    bus.once('connect', () => resolve(bus));
    bus.once('error', (error: unknown) => {
      bus.disconnect();
      reject(error instanceof Error ? error : new Error(String(error)));
    });
  });
}

/**
 * The capture service: one per QEMU VM. Waits for QEMU on the bus, captures its graphic consoles,
 * and starts over by itself when QEMU restarts.
 */
export class CaptureService implements Service {
  readonly metrics = new CaptureMetrics();
  private readonly badInput: BadInputLog;
  private bus: MessageBus | undefined;
  private vm: VmCapture | undefined;
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
    await this.connectBus();
  }

  private async connectBus(): Promise<void> {
    while (!this.destroyed) {
      try {
        this.bus = await openBus(this.config.DBUS_ADDRESS);
        break;
      } catch (error) {
        this.logger.warn({ address: this.config.DBUS_ADDRESS, err: error }, 'D-Bus not reachable; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const bus = this.bus;
    if (!bus) return;
    // The bus daemon itself may go away (restarted, or the VM's host tidied up): start over.
    const lost = (error?: unknown): void => {
      if (this.bus !== bus) return;
      this.bus = undefined;
      this.logger.warn({ err: error }, 'lost the D-Bus connection; reconnecting');
      this.vm?.stop();
      this.vm = undefined;
      bus.disconnect();
      if (!this.destroyed) setTimeout(() => void this.connectBus(), 1000);
    };
    bus.on('error', lost);
    onBusClosed(bus, lost);
    let presence: QemuPresence;
    try {
      presence = await QemuPresence.watch(bus);
    } catch (error) {
      lost(error);
      return;
    }
    presence.on('up', () => {
      if (this.bus === bus) void this.startVm(bus);
    });
    presence.on('down', () => {
      if (this.bus !== bus) return;
      this.logger.warn('QEMU left the bus');
      this.vm?.stop();
      this.vm = undefined;
    });
    if (presence.present) await this.startVm(bus);
    else this.logger.info('waiting for QEMU on the bus');
  }

  private async startVm(bus: MessageBus): Promise<void> {
    this.vm?.stop();
    this.vm = undefined;
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
      // The bus may have gone while we started (its VM with it).
      if (this.bus === bus && !this.destroyed) {
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
    }, wait);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.infoTimer);
    clearTimeout(this.refreshTimer);
    this.vm?.stop();
    this.vm = undefined;
    this.bus?.disconnect();
    await this.dmabufReader?.close();
    this.badInput.close();
    await this.metricsServer?.close();
    await drainNats(this.nc);
  }
}

import { EventEmitter } from 'node:events';
import {
  connectNats,
  drainNats,
  publishProto,
  startMetricsServer,
  subjects,
  vmOfInputSubject,
  type Logger,
  type MetricsServer,
  type NatsConnection,
  type Service,
  type Subscription,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { InputConfig } from './config.js';
import { InputMetrics } from './metrics.js';
import { decodeInputEvent, type DropReason } from './validate.js';
import { VmInput, type AppliedEvent } from './vm-input.js';
import type { UiInfoReport } from './ui-info.js';

const { UiInfoOutcome } = qemu_webrtc.v1;
const UI_INFO_OUTCOMES: Record<UiInfoReport['outcome'], qemu_webrtc.v1.UiInfoOutcome> = {
  applied: UiInfoOutcome.UI_INFO_OUTCOME_APPLIED,
  unsupported: UiInfoOutcome.UI_INFO_OUTCOME_UNSUPPORTED,
  ignored: UiInfoOutcome.UI_INFO_OUTCOME_IGNORED,
  failed: UiInfoOutcome.UI_INFO_OUTCOME_FAILED,
};
import { SerialOwner } from './serial/serial-owner.js';

/** Drops are logged at most once per reason in this period (a flood must not flood the log). */
const DROP_LOG_MS = 10_000;

export interface VmStatus {
  bus: boolean;
  up: boolean;
  consoles: { id: number; width: number; height: number; absolute: boolean; touchSlots: number }[];
  viewers: number;
  held: number;
}

interface InputServiceEvents {
  applied: [AppliedEvent];
  dropped: [DropReason];
}

/**
 * The input service: InputEvents from NATS for any VM it serves -> QEMU's D-Bus Keyboard, Mouse and
 * MultiTouch on that VM's bus. Everything is validated first; what does not fit is dropped and
 * counted, and QEMU never sees it.
 */
export class InputService extends EventEmitter<InputServiceEvents> implements Service {
  readonly metrics = new InputMetrics();
  private readonly vms = new Map<string, VmInput>();
  private metricsServer: MetricsServer | undefined;
  private sub: Subscription | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly dropLogged = new Map<DropReason, number>();
  private destroyed = false;
  /** The VMs' serial consoles (D-Bus chardevs): their own files, src/serial/. */
  readonly serial: SerialOwner;

  private constructor(
    readonly config: InputConfig,
    private readonly logger: Logger,
    private readonly nc: NatsConnection,
  ) {
    super();
    for (const route of config.INPUT_VMS) {
      this.vms.set(
        route.id,
        new VmInput(route, config, this.metrics, logger.child({ vm: route.id }), {
          dropped: (reason) => this.drop(reason),
          applied: (e) => this.emit('applied', e),
          uiInfo: (vmId, consoleId, r) => this.publishUiInfo(vmId, consoleId, r),
        }),
      );
    }
    this.serial = new SerialOwner(
      config.INPUT_VMS,
      nc,
      {
        scrollbackBytes: config.SERIAL_SCROLLBACK_BYTES,
        inputQueueBytes: config.SERIAL_INPUT_QUEUE_BYTES,
        maxChardevs: 16,
      },
      this.metrics.registry,
      logger,
    );
    this.metrics.stats = () => {
      let viewers = 0;
      let held = 0;
      for (const vm of this.vms.values()) {
        viewers += vm.viewerCount;
        held += vm.heldCount;
      }
      return { viewers, held };
    };
  }

  static async create(config: InputConfig, logger: Logger): Promise<InputService> {
    const nc = await connectNats(
      { url: config.NATS_URL, user: config.NATS_USER, password: config.NATS_PASSWORD, name: 'input' },
      logger.child({ component: 'nats' }),
    );
    return new InputService(config, logger, nc);
  }

  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  /** Per VM: bus connected, QEMU's consoles (size, mouse mode, touch slots), viewers, held inputs. */
  vmStatus(): Record<string, VmStatus> {
    const out: Record<string, VmStatus> = {};
    for (const [id, vm] of this.vms) {
      out[id] = {
        bus: vm.link.busConnected,
        up: vm.link.up,
        consoles: [...vm.link.consoles.values()].map((c) => ({
          id: c.id,
          width: c.width,
          height: c.height,
          absolute: c.absolute,
          touchSlots: c.maxSlots ?? 0,
        })),
        viewers: vm.viewerCount,
        held: vm.heldCount,
      };
    }
    return out;
  }

  /** Resolves once every VM's consoles are known (for tests), or rejects after `timeoutMs`. */
  async waitUntilUp(timeoutMs = 15_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while ([...this.vms.values()].some((vm) => !vm.link.up)) {
      if (performance.now() > deadline) throw new Error(`VMs not up in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async start(): Promise<void> {
    this.metricsServer = await startMetricsServer({
      host: this.config.HTTP_HOST,
      port: this.config.METRICS_PORT,
      registry: this.metrics.registry,
      health: () => ({ ok: !this.nc.isClosed() && !this.destroyed, vms: this.vmStatus() }),
    });
    for (const vm of this.vms.values()) vm.start();
    this.serial.start();
    this.sub = this.nc.subscribe(subjects.inputAll, {
      callback: (error, msg) => {
        if (error) {
          this.logger.warn({ err: error }, 'input subscription error');
          return;
        }
        this.onMessage(msg.data, msg.subject);
      },
    });
    const sweepMs = Math.max(50, Math.min(1000, this.config.INPUT_IDLE_RELEASE_MS / 4));
    this.sweepTimer = setInterval(() => {
      const now = performance.now();
      for (const vm of this.vms.values()) vm.sweep(now);
    }, sweepMs);
    await this.nc.flush();
    this.logger.info({ vms: [...this.vms.keys()] }, 'input service started');
  }

  private onMessage(data: Uint8Array, subject: string): void {
    const startMs = performance.now();
    this.metrics.eventsReceived.inc();
    if (this.destroyed) {
      this.drop('vm_unavailable');
      return;
    }
    // A subject naming no valid VM matches no event's VM ('' is never a VM id).
    const v = decodeInputEvent(data, vmOfInputSubject(subject) ?? '');
    if (!v.ok) {
      this.drop(v.reason);
      return;
    }
    const vm = this.vms.get(v.event.vmId);
    if (!vm) {
      this.drop('unknown_vm');
      return;
    }
    try {
      vm.handle(v.event, startMs);
    } catch (error) {
      this.logger.error({ err: error, vm: v.event.vmId }, 'input event failed');
    }
  }

  private publishUiInfo(vmId: string, consoleId: number, r: UiInfoReport): void {
    if (this.destroyed || this.nc.isClosed()) return;
    this.logger[r.outcome === 'applied' ? 'debug' : 'info'](
      {
        vm: vmId,
        console: consoleId,
        viewer: r.request.viewerId,
        outcome: r.outcome,
        w: r.request.width,
        h: r.request.height,
      },
      'SetUIInfo',
    );
    publishProto(this.nc, subjects.uiInfoResult(vmId, consoleId), qemu_webrtc.v1.UiInfoResult, {
      vmId,
      consoleId,
      viewerId: r.request.viewerId,
      sequence: r.request.sequence,
      outcome: UI_INFO_OUTCOMES[r.outcome],
      width: r.request.width,
      height: r.request.height,
      consoleWidth: r.consoleWidth,
      consoleHeight: r.consoleHeight,
    });
  }

  private drop(reason: DropReason): void {
    this.metrics.eventsDropped.inc({ reason });
    this.emit('dropped', reason);
    const now = performance.now();
    const last = this.dropLogged.get(reason);
    if (last === undefined || now - last >= DROP_LOG_MS) {
      this.dropLogged.set(reason, now);
      this.logger.warn({ reason }, 'dropped input events (logged once per reason every 10 s)');
    }
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.sweepTimer);
    this.sub?.unsubscribe();
    this.serial.destroy();
    await Promise.all([...this.vms.values()].map((vm) => vm.stop()));
    await this.metricsServer?.close();
    await drainNats(this.nc);
    // nats.js resolves drain() while disconnected without closing: it would reconnect forever.
    if (!this.nc.isClosed()) await this.nc.close();
  }
}

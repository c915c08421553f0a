import type { Logger, NatsConnection } from '@qemu-webrtc/common';
import { isSubjectToken, publishProto, subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  CHARDEV_INTERFACE,
  DISPLAY_ROOT,
  QEMU_BUS_NAME,
  QemuBusWatcher,
  callMethod,
  chardevPath,
  getAllProperties,
  withTimeout,
  type MessageBus,
} from '@qemu-webrtc/qemu-dbus';
import type { VmRoute } from '../config.js';
import { ChardevStream } from './chardev-stream.js';

const { SerialData, SerialState } = qemu_webrtc.v1;

/** Only chardevs named as serial consoles are served: a monitor chardev would hand browsers the VM. */
export const SERIAL_NAME_PREFIX = 'org.qemu.console.serial.';
const STATE_EVERY_MS = 5000;
const CALL_TIMEOUT_MS = 2000;

export interface VmSerialOptions {
  scrollbackBytes: number;
  inputQueueBytes: number;
  maxChardevs: number;
}

/**
 * A VM's serial consoles: finds QEMU's D-Bus chardevs named `org.qemu.console.serial.*` (on QEMU's
 * arrival and after every bus ping, so a chardev added or removed at run time is followed), holds
 * each one's stream and scrollback, publishes what the guest writes and the consoles' state.
 */
export class VmSerial {
  readonly chardevs = new Map<string, ChardevStream>();
  private readonly watcher: QemuBusWatcher;
  private stateTimer: NodeJS.Timeout | undefined;
  private scanning = false;
  private closed = false;
  private qemuUp = false;
  private statePending = false;
  private warnedIds = new Set<string>();

  constructor(
    readonly route: VmRoute,
    private readonly nc: NatsConnection,
    private readonly opts: VmSerialOptions,
    private readonly logger: Logger,
  ) {
    this.watcher = new QemuBusWatcher({
      address: route.address,
      retryMinMs: 250,
      retryMaxMs: 2000,
      pingMs: 2000,
    });
    this.watcher.on('up', (bus) => {
      this.qemuUp = true;
      void this.scan(bus);
    });
    this.watcher.on('alive', (bus) => {
      if (this.qemuUp) void this.scan(bus);
    });
    this.watcher.on('down', () => {
      this.qemuUp = false;
      for (const c of this.chardevs.values()) {
        c.present = false;
        c.disconnect('QEMU left; what it said is kept');
      }
      this.stateChanged();
    });
  }

  start(): void {
    this.watcher.start();
    this.stateTimer = setInterval(() => this.publishState(), STATE_EVERY_MS);
  }

  /** QEMU's chardevs on the bus, and their properties; registers streams for those without one. */
  private async scan(bus: MessageBus): Promise<void> {
    if (this.scanning || this.closed) return;
    this.scanning = true;
    try {
      const [xml] = await withTimeout(
        callMethod(bus, {
          destination: QEMU_BUS_NAME,
          path: DISPLAY_ROOT,
          interface: 'org.freedesktop.DBus.Introspectable',
          member: 'Introspect',
        }),
        CALL_TIMEOUT_MS,
        'Introspect',
      );
      const ids = [...String(xml).matchAll(/<node name="Chardev_([^"]+)"/g)].map((m) => m[1] ?? '');
      const seen = new Set<string>();
      for (const id of ids) {
        const props = await withTimeout(
          getAllProperties(bus, QEMU_BUS_NAME, chardevPath(id), CHARDEV_INTERFACE),
          CALL_TIMEOUT_MS,
          'Chardev properties',
        ).catch(() => undefined);
        const name = typeof props?.Name === 'string' ? props.Name : '';
        if (!name.startsWith(SERIAL_NAME_PREFIX)) continue;
        if (!isSubjectToken(id)) {
          if (!this.warnedIds.has(id))
            this.logger.warn(
              { chardev: id },
              'serial chardev id is not letters, digits, _ and - only; not served',
            );
          this.warnedIds.add(id);
          continue;
        }
        let c = this.chardevs.get(id);
        if (!c) {
          if (this.chardevs.size >= this.opts.maxChardevs) continue;
          c = new ChardevStream(id, {
            scrollbackBytes: this.opts.scrollbackBytes,
            inputQueueBytes: this.opts.inputQueueBytes,
            output: (offset, data) => this.publishData(id, offset, data, 0, 0),
            changed: () => this.stateChanged(),
          });
          this.chardevs.set(id, c);
          this.logger.info({ chardev: id, name }, 'serial console found');
        }
        seen.add(id);
        const feOpened = props?.FEOpened === true;
        if (c.name !== name || c.feOpened !== feOpened || !c.present) {
          c.name = name;
          c.feOpened = feOpened;
          c.present = true;
          this.stateChanged();
        }
        if (!c.connected) {
          const owner = typeof props?.Owner === 'string' ? props.Owner : '';
          if (owner !== '' && owner !== (bus as unknown as { name?: string }).name) {
            c.disconnect(`another D-Bus client (${owner}) holds the stream`);
          } else await c.connect(bus);
        }
      }
      for (const [id, c] of this.chardevs) {
        if (!seen.has(id) && c.present) {
          c.present = false;
          c.disconnect('the chardev is gone from QEMU; what it said is kept');
          this.logger.warn({ chardev: id }, 'serial console vanished');
        }
      }
    } catch (error) {
      this.logger.debug({ err: error }, 'serial scan failed');
    } finally {
      this.scanning = false;
    }
  }

  /** Typed bytes from a control viewer (already checked by the service). */
  write(chardev: string, data: Uint8Array): boolean {
    return this.chardevs.get(chardev)?.write(data) ?? false;
  }

  /** Answers a replay request on the chardev's out subject. */
  replay(chardev: string, replayId: number, epoch: number, from: number): void {
    const c = this.chardevs.get(chardev);
    if (!c) return;
    const r = c.scrollback.since(epoch === c.epoch ? from : 0);
    this.publishData(chardev, r.offset, r.data, replayId, epoch === c.epoch ? r.lost : r.offset);
  }

  private publishData(
    chardev: string,
    offset: number,
    data: Uint8Array,
    replayId: number,
    lost: number,
  ): void {
    const c = this.chardevs.get(chardev);
    if (!c || this.nc.isClosed()) return;
    publishProto(this.nc, subjects.serialOut(this.route.id, chardev), SerialData, {
      vmId: this.route.id,
      chardev,
      epoch: c.epoch,
      offset,
      data,
      replayId,
      lost,
    });
  }

  /** State changes are published once per tick, however many happened. */
  private stateChanged(): void {
    if (this.statePending || this.closed) return;
    this.statePending = true;
    setImmediate(() => {
      this.statePending = false;
      this.publishState();
    });
  }

  publishState(): void {
    if (this.closed || this.nc.isClosed()) return;
    publishProto(this.nc, subjects.serialState(this.route.id), SerialState, {
      vmId: this.route.id,
      qemuUp: this.qemuUp,
      chardevs: [...this.chardevs.values()].map((c) => ({
        chardev: c.id,
        name: c.name,
        connected: c.connected,
        feOpened: c.feOpened,
        epoch: c.epoch,
        endOffset: c.scrollback.end,
        problem: c.problem,
        inputDropped: c.inputDropped,
      })),
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.stateTimer);
    this.watcher.close();
    for (const c of this.chardevs.values()) c.close();
  }
}

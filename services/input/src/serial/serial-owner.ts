import {
  BadInputLog,
  Counter,
  MAX_SERIAL_INPUT_BYTES,
  serialOfSubject,
  subjects,
  subscribeProto,
  type Logger,
  type NatsConnection,
  type Registry,
  type Subscription,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { VmRoute } from '../config.js';
import { VmSerial, type VmSerialOptions } from './vm-serial.js';

const { SerialInput, SerialReplay } = qemu_webrtc.v1;

/**
 * The input service's serial consoles: one VmSerial per VM it serves, typed bytes from NATS
 * (`serial.<chardev>.in`, published by signaling for control viewers only) written to the guest,
 * replay requests answered from the scrollback. Input owns them because it already keeps a link to
 * each VM's bus and is the one service allowed to write to QEMU.
 */
export class SerialOwner {
  readonly vms = new Map<string, VmSerial>();
  private readonly subs: Subscription[] = [];
  private readonly badInput: BadInputLog;
  private readonly dropped: Counter;
  private readonly written: Counter;

  constructor(
    routes: VmRoute[],
    private readonly nc: NatsConnection,
    opts: VmSerialOptions,
    registry: Registry,
    private readonly logger: Logger,
  ) {
    for (const route of routes) {
      this.vms.set(
        route.id,
        new VmSerial(route, nc, opts, logger.child({ vm: route.id, component: 'serial' })),
      );
    }
    this.badInput = new BadInputLog(logger.child({ component: 'serial' }));
    this.dropped = new Counter({
      name: 'input_serial_dropped_total',
      help: 'Serial messages dropped, by reason (bad, unknown_vm, too_large, refused: no stream or queue full)',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.written = new Counter({
      name: 'input_serial_bytes_written_total',
      help: 'Typed bytes written to serial chardevs',
      registers: [registry],
    });
  }

  start(): void {
    for (const vm of this.vms.values()) vm.start();
    const opts = {
      logger: this.logger,
      badInput: this.badInput,
      onBadMessage: () => this.dropped.inc({ reason: 'bad' }),
    };
    this.subs.push(
      subscribeProto(
        this.nc,
        subjects.serialInAll,
        SerialInput,
        (m, subject) => {
          const where = serialOfSubject(subject);
          const vm =
            where && where.vmId === m.vmId && where.chardev === m.chardev ? this.vms.get(m.vmId) : undefined;
          if (!vm) {
            this.dropped.inc({ reason: where ? 'unknown_vm' : 'bad' });
            return;
          }
          if (m.data.length > MAX_SERIAL_INPUT_BYTES) {
            this.dropped.inc({ reason: 'too_large' });
            this.badInput.warn(
              'serial_too_large',
              {},
              `serial input of ${m.data.length} bytes (limit ${MAX_SERIAL_INPUT_BYTES})`,
            );
            return;
          }
          if (vm.write(m.chardev, m.data)) this.written.inc(m.data.length);
          else this.dropped.inc({ reason: 'refused' });
        },
        opts,
      ),
      subscribeProto(
        this.nc,
        subjects.serialReplayAll,
        SerialReplay,
        (m, subject) => {
          const where = serialOfSubject(subject);
          const vm =
            where && where.vmId === m.vmId && where.chardev === m.chardev ? this.vms.get(m.vmId) : undefined;
          if (!vm) return;
          vm.replay(m.chardev, m.replayId, m.epoch, m.fromOffset);
        },
        opts,
      ),
    );
  }

  destroy(): void {
    for (const s of this.subs) s.unsubscribe();
    for (const vm of this.vms.values()) vm.close();
  }
}

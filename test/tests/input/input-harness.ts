// Shared by the input service's tests: real nats-server, dbus-daemon, QEMU with the test guest, the
// input service in-process, and a NATS client that publishes InputEvents as signaling would.
import type { NatsConnection } from 'nats';
import { createLogger, nowUs, readConfig, subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  DbusDaemon,
  NatsServer,
  QemuVm,
  TempDir,
  readGuestStatus,
  waitFor,
  type GuestStatus,
  type QemuOptions,
} from '@qemu-webrtc/test-kit';
import { inputConfigShape } from '@qemu-webrtc/input/config';
import { InputService } from '@qemu-webrtc/input/service';
import { startBusAndNats } from '../../harness/bus-and-nats.js';

const { InputEvent } = qemu_webrtc.v1;
export const VM_ID = 'test-vm';

export interface After {
  after: (fn: () => unknown) => void;
}

type EventBody = Omit<qemu_webrtc.v1.IInputEvent, 'vmId' | 'viewerId' | 'sequence' | 'consoleId'>;

export class InputHarness {
  private readonly sequences = new Map<string, number>();

  private constructor(
    readonly dir: TempDir,
    readonly bus: DbusDaemon,
    readonly nats: NatsServer,
    readonly nc: NatsConnection,
    readonly vm: QemuVm,
    readonly service: InputService,
  ) {}

  static async start(
    t: After,
    opts: { env?: Record<string, string>; qemu?: QemuOptions } = {},
  ): Promise<InputHarness> {
    const { dir, bus, nats, nc } = await startBusAndNats((fn) => t.after(fn));
    const vm = await QemuVm.start(dir, { busAddress: bus.address, width: 1024, height: 768, ...opts.qemu });
    t.after(() => vm.stop());
    const service = await InputService.create(
      readConfig(inputConfigShape, {
        NATS_URL: nats.url,
        // The path only: a restarted daemon at the same path has a new guid.
        INPUT_VMS: `${VM_ID}=${bus.address.replace(/,guid=[0-9a-f]+/, '')}`,
        METRICS_PORT: '0',
        ...opts.env,
      }),
      createLogger('input', process.env.LOG_LEVEL ?? 'silent'),
    );
    t.after(() => service.destroy());
    await service.start();
    await service.waitUntilUp();
    const h = new InputHarness(dir, bus, nats, nc, vm, service);
    await h.guest((s) => s.frame > 0, 'the guest to draw');
    return h;
  }

  /** Publishes one InputEvent from `viewer` (next sequence), as signaling would. */
  send(viewer: string, body: EventBody, consoleId = 0): number {
    const sequence = (this.sequences.get(viewer) ?? 0) + 1;
    this.sequences.set(viewer, sequence);
    this.publish({ vmId: VM_ID, consoleId, viewerId: viewer, sequence, receivedUs: nowUs(), ...body });
    return sequence;
  }

  publish(ev: qemu_webrtc.v1.IInputEvent, vmId = ev.vmId ?? VM_ID): void {
    this.nc.publish(subjects.input(vmId), InputEvent.encode(ev).finish());
  }

  /** Resolves once `viewer`'s event `sequence` reached QEMU (its D-Bus calls returned). */
  applied(viewer: string, sequence: number, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.service.off('applied', on);
        reject(new Error(`event ${viewer}#${sequence} not applied in ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (e: { viewerId: string; sequence: number }): void => {
        if (e.viewerId !== viewer || e.sequence !== sequence) return;
        clearTimeout(timer);
        this.service.off('applied', on);
        resolve();
      };
      this.service.on('applied', on);
    });
  }

  async status(): Promise<GuestStatus | null> {
    return readGuestStatus(await this.vm.screendump());
  }

  /** Waits for a guest status that satisfies `ok`. */
  guest(ok: (s: GuestStatus) => boolean, what: string, timeoutMs = 15_000): Promise<GuestStatus> {
    return waitFor(
      what,
      async () => {
        const s = await this.status();
        return s && ok(s) ? s : undefined;
      },
      timeoutMs,
      50,
    );
  }

  async metricsText(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.service.metricsPort ?? 0}/metrics`);
    return res.text();
  }

  async health(): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`http://127.0.0.1:${this.service.metricsPort ?? 0}/health`);
    return { status: res.status, body: await res.json() };
  }
}

/** The value of a counter sample in Prometheus text, e.g. metric('x_total{reason="a"}'). */
export function metricValue(text: string, sample: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return 0;
}

import { Counter, Gauge, Histogram, createRegistry, type Registry } from '@qemu-webrtc/common';

/** What the input service counts: events in, applied and dropped, D-Bus calls, releases, viewers. */
export class InputMetrics {
  /** Read when /metrics is scraped: viewers tracked and inputs held, over every VM. */
  stats: () => { viewers: number; held: number } = () => ({ viewers: 0, held: 0 });
  readonly registry: Registry = createRegistry('input');
  readonly eventsReceived = new Counter({
    name: 'input_events_received_total',
    help: 'InputEvent messages received from NATS',
    registers: [this.registry],
  });
  readonly eventsApplied = new Counter({
    name: 'input_events_applied_total',
    help: 'InputEvents turned into D-Bus calls (or state), by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly eventsDropped = new Counter({
    name: 'input_events_dropped_total',
    help: 'InputEvents dropped, QEMU untouched, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly eventsCoalesced = new Counter({
    name: 'input_events_coalesced_total',
    help: 'Pointer motion merged into the next motion call (one in flight per console), by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly positionsClamped = new Counter({
    name: 'input_positions_clamped_total',
    help: 'Positions outside the console moved to its nearest edge',
    registers: [this.registry],
  });
  readonly dbusCalls = new Counter({
    name: 'input_dbus_calls_total',
    help: 'D-Bus calls to QEMU, by method and result (ok, error, timeout)',
    labelNames: ['method', 'result'],
    registers: [this.registry],
  });
  readonly dbusCallSeconds = new Histogram({
    name: 'input_dbus_call_seconds',
    help: 'D-Bus call sent -> reply',
    labelNames: ['method'],
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [this.registry],
  });
  readonly eventSeconds = new Histogram({
    name: 'input_event_seconds',
    help: 'Signaling received the event (received_us) -> its last D-Bus call returned',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly releases = new Counter({
    name: 'input_releases_total',
    help: 'Keys, buttons and touches released on behalf of a viewer, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly uiInfo = new Counter({
    name: 'input_ui_info_total',
    help: 'Console.SetUIInfo hints by outcome (applied, unsupported, ignored, failed, superseded)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly mouseModeFallbacks = new Counter({
    name: 'input_mouse_mode_fallbacks_total',
    help: 'Pointer calls QEMU refused for the mouse mode (absolute <-> relative), then followed',
    registers: [this.registry],
  });
  readonly busConnects = new Counter({
    name: 'input_bus_connects_total',
    help: 'D-Bus connections made, per VM',
    labelNames: ['vm'],
    registers: [this.registry],
  });
  readonly vmUp = new Gauge({
    name: 'input_vm_up',
    help: '1 while the VM bus is connected and QEMU is on it',
    labelNames: ['vm'],
    registers: [this.registry],
  });
  readonly viewers: Gauge = new Gauge({
    name: 'input_viewers',
    help: 'Viewers tracked',
    registers: [this.registry],
    collect: () => {
      this.viewers.set(this.stats().viewers);
    },
  });
  readonly held: Gauge = new Gauge({
    name: 'input_held',
    help: 'Keys, buttons and touches held by viewers',
    registers: [this.registry],
    collect: () => {
      this.held.set(this.stats().held);
    },
  });
}

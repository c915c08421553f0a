import { EventEmitter } from 'node:events';
import dbus from 'dbus-next';
import type { Logger } from '@qemu-webrtc/common';
import {
  IFACE,
  QemuBusWatcher,
  QemuConsole,
  readVmProperties,
  withTimeout,
  type MessageBus,
} from '@qemu-webrtc/qemu-dbus';
import { ConsoleTarget, type ConsoleState } from './console-target.js';
import type { VmRoute } from './config.js';
import { CallRunner } from './dbus-calls.js';
import type { InputMetrics } from './metrics.js';

const CONNECT_TIMEOUT_MS = 5000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 2000;
/** Bus liveness check (Ping) period; the consoles' properties are re-read after each. */
const WATCH_MS = 2000;

interface VmLinkEvents {
  /** QEMU's consoles are known and can be driven. */
  up: [];
  /** The bus or QEMU went away: every console (and what was held on it) is gone. */
  down: [];
}

/**
 * One VM's D-Bus side: QEMU on its bus (followed by a QemuBusWatcher: connection, presence, ping),
 * and its consoles with their size and mouse mode (followed through PropertiesChanged, and re-read
 * after each ping of the bus).
 */
export class VmLink extends EventEmitter<VmLinkEvents> {
  readonly consoles = new Map<number, ConsoleTarget>();
  readonly calls: CallRunner;
  private readonly watcher: QemuBusWatcher;
  /** Bumped whenever the bus or QEMU changes: async work of an older generation is dropped. */
  private generation = 0;
  private closed = false;
  private unreachableSaid = false;

  constructor(
    readonly route: VmRoute,
    private readonly metrics: InputMetrics,
    private readonly logger: Logger,
    callTimeoutMs: number,
  ) {
    super();
    this.calls = new CallRunner(metrics, callTimeoutMs);
    this.watcher = new QemuBusWatcher({
      address: route.address,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      retryMinMs: RETRY_MIN_MS,
      retryMaxMs: RETRY_MAX_MS,
      pingMs: WATCH_MS,
      matchRules: [
        `type='signal',interface='${IFACE.properties}',member='PropertiesChanged',path_namespace='/org/qemu/Display1'`,
      ],
    });
    this.watcher.on('unreachable', (error) => {
      // Said once at warn level, then quietly while it stays away.
      this.logger[this.unreachableSaid ? 'debug' : 'warn'](
        { address: this.route.address, err: error },
        'VM bus not reachable; retrying',
      );
      this.unreachableSaid = true;
    });
    this.watcher.on('connected', (bus) => {
      this.unreachableSaid = false;
      this.metrics.busConnects.inc({ vm: this.id });
      this.logger.info({ address: this.route.address }, 'connected to the VM bus');
      bus.on('message', (msg: dbus.Message) => {
        this.onMessage(bus, msg);
      });
    });
    this.watcher.on('disconnected', (_bus, error) => {
      this.logger.warn({ err: error }, 'lost the VM bus; reconnecting');
      this.setOwnerGone();
    });
    this.watcher.on('down', (_bus, reason) => {
      if (reason === 'qemu-left') this.setOwnerGone(); // 'bus-lost' follows 'disconnected'
    });
    this.watcher.on('up', (bus) => void this.loadConsoles(bus, ++this.generation));
    this.watcher.on('alive', () => {
      if (this.up && this.calls.inFlight === 0) for (const id of this.consoles.keys()) void this.refresh(id);
    });
  }

  get id(): string {
    return this.route.id;
  }

  /** True while QEMU is on a connected bus and its consoles are loaded. */
  get up(): boolean {
    return this.consoles.size > 0;
  }

  get busConnected(): boolean {
    return this.watcher.bus !== undefined;
  }

  start(): void {
    this.watcher.start();
  }

  /** QEMU's console object on the current bus, for calls ConsoleTarget does not make (SetUIInfo). */
  qemuConsole(id: number): QemuConsole | undefined {
    const bus = this.watcher.bus;
    return bus && this.consoles.has(id) ? new QemuConsole(bus, id) : undefined;
  }

  private onMessage(bus: MessageBus, msg: dbus.Message): void {
    if (bus !== this.watcher.bus || msg.type !== dbus.MessageType.SIGNAL) return;
    if (msg.interface !== IFACE.properties || msg.member !== 'PropertiesChanged') return;
    if (msg.sender !== this.watcher.qemuOwner) return;
    const id = /\/Console_(\d+)$/.exec(msg.path)?.[1];
    const target = id !== undefined ? this.consoles.get(Number(id)) : undefined;
    if (!target) return;
    const [iface, changed] = msg.body as [unknown, unknown];
    if (typeof changed !== 'object' || changed === null) return;
    const value = (name: string): unknown => {
      const v: unknown = Reflect.get(changed, name);
      return typeof v === 'object' && v !== null && 'value' in v ? v.value : undefined;
    };
    if (iface === IFACE.console) {
      const w = value('Width');
      const h = value('Height');
      if (typeof w === 'number') target.width = w;
      if (typeof h === 'number') target.height = h;
    } else if (iface === IFACE.mouse) {
      const abs = value('IsAbsolute');
      if (typeof abs === 'boolean') target.absolute = abs;
    }
  }

  /** QEMU or the bus went away: its consoles, and what was held on them, are gone. */
  private setOwnerGone(): void {
    this.generation++;
    const wasUp = this.up;
    this.consoles.clear();
    // Calls to the QEMU that left will never be answered: they no longer count as in flight.
    this.calls.linkDropped();
    this.metrics.vmUp.set({ vm: this.id }, 0);
    if (wasUp) {
      this.logger.warn('QEMU left the bus');
      this.emit('down');
    }
  }

  private async readState(qemu: QemuConsole): Promise<ConsoleState> {
    const [props, absolute, maxSlots] = await Promise.all([
      qemu.properties(),
      qemu.mouseIsAbsolute(),
      qemu.multiTouchMaxSlots(),
    ]);
    return { width: props.width, height: props.height, absolute, maxSlots };
  }

  private async loadConsoles(bus: MessageBus, generation: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const vm = await withTimeout(readVmProperties(bus), CONNECT_TIMEOUT_MS, 'VM properties');
        const loaded: ConsoleTarget[] = [];
        for (const id of vm.consoleIds) {
          const qemu = new QemuConsole(bus, id);
          const state = await withTimeout(this.readState(qemu), CONNECT_TIMEOUT_MS, 'console properties');
          loaded.push(
            new ConsoleTarget(id, qemu, this.calls, this.metrics, state, () => void this.refresh(id)),
          );
        }
        if (generation !== this.generation || this.closed) return;
        for (const c of loaded) this.consoles.set(c.id, c);
        this.metrics.vmUp.set({ vm: this.id }, this.up ? 1 : 0);
        this.logger.info(
          {
            vm: vm.name,
            consoles: loaded.map((c) => ({
              id: c.id,
              w: c.width,
              h: c.height,
              abs: c.absolute,
              touch: c.maxSlots,
            })),
          },
          'QEMU is on the bus',
        );
        if (this.up) this.emit('up');
        return;
      } catch (error) {
        if (generation !== this.generation || this.closed) return;
        // QEMU takes its name before it exports every object: try again a few times.
        if (attempt >= 20) {
          this.logger.error({ err: error }, 'could not read QEMU consoles');
          return;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Re-reads one console's size and mouse mode (after QEMU refused a pointer call). */
  private async refresh(id: number): Promise<void> {
    const target = this.consoles.get(id);
    const bus = this.watcher.bus;
    if (!target || !bus) return;
    try {
      const state = await withTimeout(this.readState(new QemuConsole(bus, id)), WATCH_MS, 'refresh');
      if (this.consoles.get(id) !== target) return;
      target.width = state.width;
      target.height = state.height;
      target.absolute = state.absolute;
      target.maxSlots = state.maxSlots;
    } catch (error) {
      this.logger.debug({ err: error, console: id }, 'console refresh failed');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher.close();
    this.generation++;
    this.consoles.clear();
    this.metrics.vmUp.set({ vm: this.id }, 0);
    await Promise.resolve();
  }
}

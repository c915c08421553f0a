import { EventEmitter } from 'node:events';
import dbus from 'dbus-next';
import type { Logger } from '@qemu-webrtc/common';
import {
  IFACE,
  QEMU_BUS_NAME,
  QemuConsole,
  callMethod,
  connectBus,
  onBusClosed,
  readVmProperties,
  type MessageBus,
} from '@qemu-webrtc/qemu-dbus';
import { ConsoleTarget, type ConsoleState } from './console-target.js';
import type { VmRoute } from './config.js';
import { CallRunner } from './dbus-calls.js';
import type { InputMetrics } from './metrics.js';

const DBUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: IFACE.dbus };
const CONNECT_TIMEOUT_MS = 5000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 2000;
/** Bus liveness check and console property refresh period. */
const WATCH_MS = 2000;

interface VmLinkEvents {
  /** QEMU's consoles are known and can be driven. */
  up: [];
  /** The bus or QEMU went away: every console (and what was held on it) is gone. */
  down: [];
}

/** Resolves once the bus connection said Hello; rejects on an error or a timeout before that. */
function openBus(address: string, timeoutMs: number): Promise<MessageBus> {
  return new Promise((resolve, reject) => {
    const bus = connectBus(address);
    const fail = (error: unknown): void => {
      clearTimeout(timer);
      bus.disconnect();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const timer = setTimeout(
      () => fail(new Error(`no answer from ${address} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    bus.once('connect', () => {
      clearTimeout(timer);
      bus.off('error', fail);
      resolve(bus);
    });
    bus.once('error', fail);
    // Errors after a failure (the socket closing) must not become uncaught 'error' events.
    bus.on('error', () => undefined);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no reply in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * One VM's D-Bus side: a bus connection (reconnected when the bus goes away), QEMU's presence on it
 * (followed through NameOwnerChanged), and its consoles with their size and mouse mode (followed
 * through PropertiesChanged, and re-read now and then).
 */
export class VmLink extends EventEmitter<VmLinkEvents> {
  readonly consoles = new Map<number, ConsoleTarget>();
  readonly calls: CallRunner;
  private bus: MessageBus | undefined;
  private qemuOwner = '';
  /** Bumped whenever the bus or QEMU changes: async work of an older generation is dropped. */
  private generation = 0;
  private closed = false;
  private watchTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private unreachableSaid = false;

  constructor(
    readonly route: VmRoute,
    private readonly metrics: InputMetrics,
    private readonly logger: Logger,
    callTimeoutMs: number,
  ) {
    super();
    this.calls = new CallRunner(metrics, callTimeoutMs);
  }

  get id(): string {
    return this.route.id;
  }

  /** True while QEMU is on a connected bus and its consoles are loaded. */
  get up(): boolean {
    return this.consoles.size > 0;
  }

  private isClosed(): boolean {
    return this.closed;
  }

  get busConnected(): boolean {
    return this.bus !== undefined;
  }

  start(): void {
    void this.connect();
    this.watchTimer = setInterval(() => void this.watch(), WATCH_MS);
  }

  private async connect(): Promise<void> {
    if (this.closed || this.bus) return;
    let bus: MessageBus;
    try {
      bus = await openBus(this.route.address, CONNECT_TIMEOUT_MS);
    } catch (error) {
      // Said once at warn level, then quietly while it stays away.
      this.logger[this.unreachableSaid ? 'debug' : 'warn'](
        { address: this.route.address, err: error },
        'VM bus not reachable; retrying',
      );
      this.unreachableSaid = true;
      this.scheduleReconnect();
      return;
    }
    if (this.isClosed()) {
      bus.disconnect();
      return;
    }
    this.bus = bus;
    this.retryMs = RETRY_MIN_MS;
    this.unreachableSaid = false;
    this.metrics.busConnects.inc({ vm: this.id });
    this.logger.info({ address: this.route.address }, 'connected to the VM bus');
    bus.on('error', (error: unknown) => this.lost(bus, error));
    onBusClosed(bus, () => this.lost(bus, new Error('bus connection closed')));
    bus.on('message', (msg: dbus.Message) => this.onMessage(bus, msg));
    try {
      for (const rule of [
        `type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${QEMU_BUS_NAME}'`,
        `type='signal',interface='${IFACE.properties}',member='PropertiesChanged',path_namespace='/org/qemu/Display1'`,
      ]) {
        await withTimeout(
          callMethod(bus, { ...DBUS, member: 'AddMatch', signature: 's', body: [rule] }),
          CONNECT_TIMEOUT_MS,
          'AddMatch',
        );
      }
      const [owner] = await withTimeout(
        callMethod(bus, { ...DBUS, member: 'GetNameOwner', signature: 's', body: [QEMU_BUS_NAME] }).catch(
          () => [''],
        ),
        CONNECT_TIMEOUT_MS,
        'GetNameOwner',
      );
      this.setOwner(bus, typeof owner === 'string' ? owner : '');
    } catch (error) {
      this.lost(bus, error);
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  /** The bus connection failed or closed: forget QEMU, reconnect. */
  private lost(bus: MessageBus, error: unknown): void {
    if (this.bus !== bus) return;
    this.logger.warn({ err: error }, 'lost the VM bus; reconnecting');
    this.bus = undefined;
    this.setOwnerGone();
    bus.disconnect();
    this.scheduleReconnect();
  }

  private onMessage(bus: MessageBus, msg: dbus.Message): void {
    if (bus !== this.bus || msg.type !== dbus.MessageType.SIGNAL) return;
    if (msg.interface === IFACE.dbus && msg.member === 'NameOwnerChanged' && msg.body[0] === QEMU_BUS_NAME) {
      this.setOwner(bus, String(msg.body[2]));
      return;
    }
    if (msg.interface !== IFACE.properties || msg.member !== 'PropertiesChanged') return;
    if (msg.sender !== this.qemuOwner) return;
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

  private setOwner(bus: MessageBus, owner: string): void {
    if (owner === this.qemuOwner) return;
    if (this.qemuOwner !== '') this.setOwnerGone();
    this.qemuOwner = owner;
    if (owner !== '') void this.loadConsoles(bus, ++this.generation);
  }

  private setOwnerGone(): void {
    this.generation++;
    const wasUp = this.up;
    this.qemuOwner = '';
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
    const bus = this.bus;
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

  /** Checks the bus is alive (the daemon answers Ping) and refreshes the consoles' state. */
  private async watch(): Promise<void> {
    const bus = this.bus;
    if (!bus || this.closed) return;
    try {
      await withTimeout(
        callMethod(bus, { ...DBUS, interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }),
        WATCH_MS,
        'Ping',
      );
    } catch (error) {
      this.lost(bus, error);
      return;
    }
    if (this.up && this.calls.inFlight === 0) for (const id of this.consoles.keys()) void this.refresh(id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchTimer);
    clearTimeout(this.retryTimer);
    this.generation++;
    this.consoles.clear();
    this.metrics.vmUp.set({ vm: this.id }, 0);
    const bus = this.bus;
    this.bus = undefined;
    bus?.disconnect();
    await Promise.resolve();
  }
}

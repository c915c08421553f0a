import { EventEmitter } from 'node:events';
import dbus from 'dbus-next';
import { callMethod, onBusClosed, withTimeout, type MessageBus } from './bus-call.js';
import { connectBus } from './display-client.js';
import { IFACE, QEMU_BUS_NAME } from './names.js';

const DAEMON = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: IFACE.dbus };

export interface QemuBusWatcherOptions {
  /** The bus QEMU's `-display dbus,addr=` is on. */
  address: string;
  /** A connection must say Hello, and each setup call (AddMatch, GetNameOwner) answer, within this. */
  connectTimeoutMs?: number;
  /** Reconnect delays double from retryMinMs up to retryMaxMs; back to retryMinMs once connected. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Period of the liveness Ping to the bus daemon, and its timeout; 0: no ping. */
  pingMs?: number;
  /** Match rules added on every connection, besides NameOwnerChanged for QEMU's name. */
  matchRules?: string[];
  /** Opens a bus connection (default connectBus; tests pass a fake). */
  connect?: (address: string) => MessageBus;
}

export type QemuDownReason = 'qemu-left' | 'bus-lost';

interface Events {
  /** A connection said Hello (before its match rules: attach message handlers here). */
  connected: [bus: MessageBus];
  /** A connection attempt failed (an error, or no Hello in time); the next is in `retryInMs`. */
  unreachable: [error: Error, retryInMs: number];
  /** The connection failed or closed (error, end of stream, failed ping or setup call); reconnecting. */
  disconnected: [bus: MessageBus, error: Error];
  /** QEMU's presence on a new connection is known (after 'up' when it is there). */
  watching: [bus: MessageBus, qemuPresent: boolean];
  /** QEMU owns its name (org.qemu) on the connected bus: it started, restarted, or was found. */
  up: [bus: MessageBus, owner: string];
  /** QEMU went away: its name left the bus, or the bus connection did (after 'disconnected'). */
  down: [bus: MessageBus, reason: QemuDownReason];
  /** The bus daemon answered the periodic Ping. */
  alive: [bus: MessageBus];
}

/**
 * Follows QEMU on a bus: keeps a connection (opened with a timeout, reopened with backoff when it
 * fails, closes or stops answering a periodic Ping) and QEMU's presence on it (GetNameOwner, then
 * NameOwnerChanged for org.qemu). What QEMU offers (consoles, listeners) is the user's business.
 */
export class QemuBusWatcher extends EventEmitter<Events> {
  private connection: MessageBus | undefined;
  private owner = '';
  private closed = false;
  private started = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private readonly connectTimeoutMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly pingMs: number;
  private readonly firstWatch: Promise<void>;
  private resolveFirstWatch: () => void = () => undefined;

  constructor(private readonly opts: QemuBusWatcherOptions) {
    super();
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.retryMinMs = opts.retryMinMs ?? 250;
    this.retryMaxMs = Math.max(this.retryMinMs, opts.retryMaxMs ?? 2000);
    this.pingMs = opts.pingMs ?? 2000;
    this.retryMs = this.retryMinMs;
    this.firstWatch = new Promise((resolve) => {
      this.resolveFirstWatch = resolve;
    });
  }

  /** The connected bus (undefined while connecting or reconnecting). */
  get bus(): MessageBus | undefined {
    return this.connection;
  }

  /** QEMU's unique name on the connected bus ('' while QEMU is away). */
  get qemuOwner(): string {
    return this.owner;
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    if (this.pingMs > 0) this.pingTimer = setInterval(() => void this.ping(), this.pingMs);
    void this.connect();
  }

  /** A method, not the field: TypeScript would assume the field unchanged across an await. */
  private isClosed(): boolean {
    return this.closed;
  }

  /** Resolves once a connection learned whether QEMU is there (or the watcher was closed). */
  whenWatching(): Promise<void> {
    return this.firstWatch;
  }

  /** Resolves once a bus connection said Hello; rejects on an error or a timeout before that. */
  private open(): Promise<MessageBus> {
    const { address } = this.opts;
    const ms = this.connectTimeoutMs;
    return new Promise((resolve, reject) => {
      const bus = (this.opts.connect ?? connectBus)(address);
      const fail = (error: unknown): void => {
        clearTimeout(timer);
        bus.disconnect();
        reject(error instanceof Error ? error : new Error(String(error)));
      };
      const timer = setTimeout(() => {
        fail(new Error(`no answer from ${address} in ${ms} ms`));
      }, ms);
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

  private async connect(): Promise<void> {
    if (this.closed || this.connection) return;
    let bus: MessageBus;
    try {
      bus = await this.open();
    } catch (error) {
      if (this.isClosed()) return;
      this.emit('unreachable', error instanceof Error ? error : new Error(String(error)), this.retryMs);
      this.scheduleReconnect();
      return;
    }
    if (this.isClosed()) {
      bus.disconnect();
      return;
    }
    this.connection = bus;
    this.retryMs = this.retryMinMs;
    bus.on('error', (error: unknown) => {
      this.lost(bus, error);
    });
    onBusClosed(bus, () => {
      this.lost(bus, new Error('bus connection closed'));
    });
    bus.on('message', (msg: dbus.Message) => {
      if (
        bus === this.connection &&
        msg.type === dbus.MessageType.SIGNAL &&
        msg.sender === DAEMON.destination &&
        msg.interface === IFACE.dbus &&
        msg.member === 'NameOwnerChanged' &&
        msg.body[0] === QEMU_BUS_NAME
      ) {
        this.setOwner(bus, String(msg.body[2]));
      }
    });
    this.emit('connected', bus);
    try {
      for (const rule of [
        `type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${QEMU_BUS_NAME}'`,
        ...(this.opts.matchRules ?? []),
      ]) {
        await withTimeout(
          callMethod(bus, { ...DAEMON, member: 'AddMatch', signature: 's', body: [rule] }),
          this.connectTimeoutMs,
          'AddMatch',
        );
      }
      // GetNameOwner fails (NameHasNoOwner) while QEMU is away.
      const [owner] = await withTimeout(
        callMethod(bus, { ...DAEMON, member: 'GetNameOwner', signature: 's', body: [QEMU_BUS_NAME] }).catch(
          () => [''],
        ),
        this.connectTimeoutMs,
        'GetNameOwner',
      );
      if (bus !== this.connection) return;
      this.setOwner(bus, typeof owner === 'string' ? owner : '');
      this.emit('watching', bus, this.owner !== '');
      this.resolveFirstWatch();
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
    this.retryMs = Math.min(this.retryMs * 2, this.retryMaxMs);
  }

  /** The connection failed or closed: forget QEMU, reconnect. */
  private lost(bus: MessageBus, error: unknown): void {
    if (this.connection !== bus) return;
    this.connection = undefined;
    const wasUp = this.owner !== '';
    this.owner = '';
    bus.disconnect();
    this.emit('disconnected', bus, error instanceof Error ? error : new Error(String(error)));
    if (wasUp) this.emit('down', bus, 'bus-lost');
    this.scheduleReconnect();
  }

  private setOwner(bus: MessageBus, owner: string): void {
    if (owner === this.owner) return;
    const was = this.owner;
    this.owner = owner;
    if (was !== '') this.emit('down', bus, 'qemu-left');
    // A handler of 'down' may have closed the watcher or lost the bus.
    if (owner !== '' && this.owner === owner && this.connection === bus) this.emit('up', bus, owner);
  }

  /** Checks the bus is alive: the daemon must answer Ping within pingMs. */
  private async ping(): Promise<void> {
    const bus = this.connection;
    if (!bus || this.closed) return;
    try {
      await withTimeout(
        callMethod(bus, { ...DAEMON, interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }),
        this.pingMs,
        'Ping',
      );
    } catch (error) {
      this.lost(bus, error);
      return;
    }
    if (bus === this.connection && !this.isClosed()) this.emit('alive', bus);
  }

  /** Disconnects and stops reconnecting; no events follow. Safe twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
    const bus = this.connection;
    this.connection = undefined;
    this.owner = '';
    bus?.disconnect();
    this.resolveFirstWatch();
  }
}

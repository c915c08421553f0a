// QemuDisplayDouble: a test double for QEMU's side of `-display dbus`, for the gl=on path, which needs
// a GPU render node these machines lack (and for benchmarks, where a test drives frames at will).
//
// What it reproduces, as QEMU 8.1-10.x does (ui/dbus-console.c, ui/dbus-listener.c):
// - On the bus: the well-known name org.qemu (taken after the objects are exported);
//   /org/qemu/Display1/VM (org.qemu.Display1.VM: Name, UUID, ConsoleIDs = [0]);
//   /org/qemu/Display1/Console_0 (org.qemu.Display1.Console: Label, Head, Type "Graphic", Width,
//   Height, DeviceAddress; RegisterListener(h), SetUIInfo), whose introspection lists the Keyboard
//   and Mouse interfaces. Width/Height follow each scanout, with PropertiesChanged, as QEMU's do.
// - RegisterListener(h): replies first, then speaks D-Bus on the received socket as the AUTH SERVER
//   (EXTERNAL, agrees to fd passing, waits for BEGIN; no Hello, which it answers with an error),
//   then calls Properties.GetAll("org.qemu.Display1.Listener") on /org/qemu/Display1/Listener and
//   reads `Interfaces` (missing = none offered) before sending anything.
// - Listener calls with QEMU's signatures (Scanout, Update, Unix.Map ScanoutMap/UpdateMap,
//   ScanoutDMABUF/UpdateDMABUF, Disable, MouseSet, CursorDefine), every one NO_REPLY_EXPECTED except
//   UpdateDMABUF, which waits for the listener's reply with QEMU's 1 s timeout (DBUS_DEFAULT_TIMEOUT):
//   QEMU's per-frame acknowledgement for gl=on. Calls go to every registered listener, as QEMU's do;
//   Unix.Map calls only where the listener offered that interface (QEMU would send Scanout instead).
//   A listener whose socket closes is dropped.
//
// What it does not reproduce: the guest and its rendering (a test supplies every pixel, memfd and
// DMA-BUF fd, and decides when to send what; nothing is replayed on registration), the stall of
// QEMU's main loop while a listener authenticates or answers GetAll, Update queueing and coalescing,
// ScanoutDMABUF2, MultiTouch, Clipboard, Audio, Chardev objects and the ObjectManager, and QEMU's
// input validation: Keyboard and Mouse calls are only recorded (`inputCalls`), never applied.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import dbus from 'dbus-next';
import {
  IFACE,
  LISTENER_PATH,
  QEMU_BUS_NAME,
  VM_PATH,
  connectBus,
  consolePath,
} from '@qemu-webrtc/qemu-dbus';
import { DbusPeerServer, DbusErrorReply, type OutgoingCall } from './dbus-peer-server.js';

export { DbusErrorReply, DbusLinkClosedError, DbusTimeoutError } from './dbus-peer-server.js';

/** pixman x8r8g8b8: what gl=off VGA consoles send (bytes B, G, R, X). */
export const PIXMAN_X8R8G8B8 = 0x20020888;
/** QEMU's DBUS_DEFAULT_TIMEOUT: how long it waits for an UpdateDMABUF reply. */
export const QEMU_UPDATE_DMABUF_TIMEOUT_MS = 1000;
/** GDBus' default call timeout (GetAll while setting up a listener). */
const GDBUS_DEFAULT_TIMEOUT_MS = 25_000;

const { Interface } = dbus.interface;

export interface QemuDisplayDoubleOptions {
  /** The bus to appear on (the kit's DbusDaemon address). */
  busAddress: string;
  /** The VM's Name property (default "gl-double"). */
  name?: string;
  uuid?: string;
  /** The console's Width/Height before any scanout (default 640x480). */
  width?: number;
  height?: number;
  /** How long UpdateDMABUF waits for a reply (default QEMU's 1000 ms). */
  updateDmabufTimeoutMs?: number;
}

/** A Keyboard, Mouse or SetUIInfo call a client made on the console, recorded (not applied). */
export interface RecordedInputCall {
  interface: string;
  member: string;
  args: unknown[];
  /** performance.now() in this process when the call arrived. */
  atMs: number;
}

/** A display listener registered on the console and set up (authenticated, GetAll answered). */
export interface DisplayListener {
  /** The listener's `Interfaces` property: the optional listener interfaces it offers. */
  readonly interfaces: readonly string[];
  /** Whether the listener's GetAll reply had an `Interfaces` property at all. */
  readonly hadInterfacesProperty: boolean;
  readonly closed: boolean;
}

class ListenerLink implements DisplayListener {
  interfaces: string[] = [];
  hadInterfacesProperty = false;
  constructor(readonly peer: DbusPeerServer) {}
  get closed(): boolean {
    return this.peer.isClosed;
  }
}

interface Events {
  /** A listener registered and finished its setup. */
  listener: [DisplayListener];
  /** Setting up a listener failed (authentication, GetAll); QEMU logs and drops it. */
  listenerError: [Error];
}

class VmInterface extends Interface {
  constructor(
    readonly Name: string,
    readonly UUID: string,
    readonly ConsoleIDs: number[],
  ) {
    super(IFACE.vm);
  }
}
VmInterface.configureMembers({
  properties: {
    Name: { signature: 's', access: 'read' },
    UUID: { signature: 's', access: 'read' },
    ConsoleIDs: { signature: 'au', access: 'read' },
  },
});

class ConsoleInterface extends Interface {
  Label = 'gl-double-0';
  Head = 0;
  Type = 'Graphic';
  DeviceAddress = 'pci/0000/02.0';
  constructor(
    private readonly double: QemuDisplayDouble,
    public Width: number,
    public Height: number,
  ) {
    super(IFACE.console);
  }
  RegisterListener(fd: unknown): void {
    if (typeof fd !== 'number' || fd < 0) {
      throw new dbus.DBusError('org.freedesktop.DBus.Error.InvalidArgs', 'Invalid file descriptor');
    }
    // Like QEMU: the method returns, then the p2p connection is set up.
    setImmediate(() => {
      this.double.setUpListener(fd);
    });
  }
  SetUIInfo(...args: unknown[]): void {
    this.double.inputCalls.push({
      interface: IFACE.console,
      member: 'SetUIInfo',
      args,
      atMs: performance.now(),
    });
  }
}
ConsoleInterface.configureMembers({
  properties: {
    Label: { signature: 's', access: 'read' },
    Head: { signature: 'u', access: 'read' },
    Type: { signature: 's', access: 'read' },
    Width: { signature: 'u', access: 'read' },
    Height: { signature: 'u', access: 'read' },
    DeviceAddress: { signature: 's', access: 'read' },
  },
  methods: {
    RegisterListener: { inSignature: 'h' },
    SetUIInfo: { inSignature: 'qqiiuu' },
  },
});

/** Keyboard calls are recorded in the double's `inputCalls`, not applied to anything. */
class RecordingKeyboardInterface extends Interface {
  Modifiers = 0;
  constructor(private readonly calls: RecordedInputCall[]) {
    super(IFACE.keyboard);
  }
  Press(keycode: number): void {
    this.calls.push({ interface: IFACE.keyboard, member: 'Press', args: [keycode], atMs: performance.now() });
  }
  Release(keycode: number): void {
    this.calls.push({
      interface: IFACE.keyboard,
      member: 'Release',
      args: [keycode],
      atMs: performance.now(),
    });
  }
}
RecordingKeyboardInterface.configureMembers({
  properties: { Modifiers: { signature: 'u', access: 'read' } },
  methods: { Press: { inSignature: 'u' }, Release: { inSignature: 'u' } },
});

/** Mouse calls are recorded in the double's `inputCalls`, not applied to anything. */
class RecordingMouseInterface extends Interface {
  IsAbsolute = true;
  constructor(private readonly calls: RecordedInputCall[]) {
    super(IFACE.mouse);
  }
  Press(button: number): void {
    this.calls.push({ interface: IFACE.mouse, member: 'Press', args: [button], atMs: performance.now() });
  }
  Release(button: number): void {
    this.calls.push({ interface: IFACE.mouse, member: 'Release', args: [button], atMs: performance.now() });
  }
  SetAbsPosition(x: number, y: number): void {
    this.calls.push({
      interface: IFACE.mouse,
      member: 'SetAbsPosition',
      args: [x, y],
      atMs: performance.now(),
    });
  }
  RelMotion(dx: number, dy: number): void {
    this.calls.push({ interface: IFACE.mouse, member: 'RelMotion', args: [dx, dy], atMs: performance.now() });
  }
}
RecordingMouseInterface.configureMembers({
  properties: { IsAbsolute: { signature: 'b', access: 'read' } },
  methods: {
    Press: { inSignature: 'u' },
    Release: { inSignature: 'u' },
    SetAbsPosition: { inSignature: 'uu' },
    RelMotion: { inSignature: 'ii' },
  },
});

/** Stands in for QEMU (`-display dbus`, one graphic console) on a private bus; see the file header. */
export class QemuDisplayDouble extends EventEmitter<Events> {
  /** Keyboard, Mouse and SetUIInfo calls clients made, in order. */
  readonly inputCalls: RecordedInputCall[] = [];
  private readonly links: ListenerLink[] = [];
  private readonly console: ConsoleInterface;
  private readonly updateDmabufTimeoutMs: number;
  private stopped = false;

  private constructor(
    private readonly bus: dbus.MessageBus,
    opts: QemuDisplayDoubleOptions,
  ) {
    super();
    this.updateDmabufTimeoutMs = opts.updateDmabufTimeoutMs ?? QEMU_UPDATE_DMABUF_TIMEOUT_MS;
    this.console = new ConsoleInterface(this, opts.width ?? 640, opts.height ?? 480);
    bus.export(VM_PATH, new VmInterface(opts.name ?? 'gl-double', opts.uuid ?? randomUUID(), [0]));
    const path = consolePath(0);
    bus.export(path, this.console);
    bus.export(path, new RecordingKeyboardInterface(this.inputCalls));
    bus.export(path, new RecordingMouseInterface(this.inputCalls));
  }

  /** Connects to the bus (with fd passing), exports the objects, and takes the name org.qemu. */
  static async start(opts: QemuDisplayDoubleOptions): Promise<QemuDisplayDouble> {
    const bus = connectBus(opts.busAddress);
    await new Promise<void>((resolve, reject) => {
      bus.once('connect', resolve);
      bus.once('error', (error: unknown) => {
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
    const double = new QemuDisplayDouble(bus, opts);
    const reply = await bus.requestName(QEMU_BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE);
    if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
      bus.disconnect();
      throw new Error(`could not own ${QEMU_BUS_NAME} (RequestName reply ${reply})`);
    }
    return double;
  }

  /** The listeners now registered and set up. */
  get displayListeners(): readonly DisplayListener[] {
    return this.links.filter((l) => !l.closed);
  }

  /** Resolves with a set-up listener (one already there, or the next one). */
  waitForListener(timeoutMs = 15_000): Promise<DisplayListener> {
    const existing = this.displayListeners.at(-1);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('listener', onListener);
        reject(new Error(`no display listener registered in ${timeoutMs} ms`));
      }, timeoutMs);
      const onListener = (l: DisplayListener): void => {
        clearTimeout(timer);
        resolve(l);
      };
      this.once('listener', onListener);
    });
  }

  /** Called by the Console object after RegisterListener replied. */
  setUpListener(fd: number): void {
    const peer = new DbusPeerServer(fd);
    const link = new ListenerLink(peer);
    if (this.stopped) {
      peer.close();
      return;
    }
    peer.on('close', () => {
      const i = this.links.indexOf(link);
      if (i >= 0) this.links.splice(i, 1);
    });
    void (async () => {
      try {
        await peer.whenReady();
        const reply = await peer.call(
          {
            path: LISTENER_PATH,
            interface: IFACE.properties,
            member: 'GetAll',
            signature: 's',
            body: [IFACE.listener],
          },
          GDBUS_DEFAULT_TIMEOUT_MS,
        );
        const props = (reply.body[0] ?? {}) as Record<string, dbus.Variant | undefined>;
        const value: unknown = props.Interfaces?.value;
        link.hadInterfacesProperty = Array.isArray(value);
        link.interfaces = Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
      } catch (error) {
        // GDBus keeps a proxy whose GetAll failed, with no properties: nothing optional is used.
        if (!(error instanceof DbusErrorReply)) {
          peer.close();
          this.emit('listenerError', error instanceof Error ? error : new Error(String(error)));
          return;
        }
      }
      if (this.stopped || peer.isClosed) return;
      this.links.push(link);
      this.emit('listener', link);
    })();
  }

  private targets(requires?: string): ListenerLink[] {
    const links = this.links.filter((l) => !l.closed);
    if (links.length === 0) throw new Error('no display listener is registered');
    if (requires === undefined) return links;
    const offering = links.filter((l) => l.interfaces.includes(requires));
    if (offering.length === 0) throw new Error(`no display listener offers ${requires}`);
    return offering;
  }

  private async send(call: OutgoingCall, requires?: string): Promise<void> {
    await Promise.all(this.targets(requires).map((l) => l.peer.send(call)));
  }

  private setSize(width: number, height: number): void {
    if (this.console.Width === width && this.console.Height === height) return;
    this.console.Width = width;
    this.console.Height = height;
    Interface.emitPropertiesChanged(this.console, { Width: width, Height: height }, []);
  }

  /** Scanout(width, height, stride, format, data): a whole frame inline (`stride` * `height` bytes). */
  scanout(
    width: number,
    height: number,
    stride: number,
    pixels: Uint8Array,
    format = PIXMAN_X8R8G8B8,
  ): Promise<void> {
    this.setSize(width, height);
    return this.send({
      path: LISTENER_PATH,
      interface: IFACE.listener,
      member: 'Scanout',
      signature: 'uuuuay',
      body: [width, height, stride, format],
      tail: pixels,
    });
  }

  /**
   * Update(x, y, width, height, stride, format, data): a rectangle inline, packed rows (QEMU sends
   * stride = width * 4); `opts` can say otherwise, to send what QEMU would not.
   */
  update(
    x: number,
    y: number,
    width: number,
    height: number,
    pixels: Uint8Array,
    opts: { stride?: number; format?: number } = {},
  ): Promise<void> {
    return this.send({
      path: LISTENER_PATH,
      interface: IFACE.listener,
      member: 'Update',
      signature: 'iiiiuuay',
      body: [x, y, width, height, opts.stride ?? width * 4, opts.format ?? PIXMAN_X8R8G8B8],
      tail: pixels,
    });
  }

  /**
   * Unix.Map ScanoutMap(memfd, offset, width, height, stride, format): the framebuffer in shared
   * memory. The fd stays the caller's (it is passed, not closed); the promise resolves once it is sent.
   */
  scanoutMap(
    memfd: number,
    offset: number,
    width: number,
    height: number,
    stride: number,
    format = PIXMAN_X8R8G8B8,
  ): Promise<void> {
    this.setSize(width, height);
    return this.send(
      {
        path: LISTENER_PATH,
        interface: IFACE.listenerUnixMap,
        member: 'ScanoutMap',
        signature: 'huuuuu',
        body: [memfd, offset, width, height, stride, format],
      },
      IFACE.listenerUnixMap,
    );
  }

  /** Unix.Map UpdateMap(x, y, width, height): this rectangle of the shared framebuffer changed. */
  updateMap(x: number, y: number, width: number, height: number): Promise<void> {
    return this.send(
      {
        path: LISTENER_PATH,
        interface: IFACE.listenerUnixMap,
        member: 'UpdateMap',
        signature: 'iiii',
        body: [x, y, width, height],
      },
      IFACE.listenerUnixMap,
    );
  }

  /**
   * ScanoutDMABUF(fd, width, height, stride, fourcc, modifier, y0_top): a gl=on scanout. The fd
   * stays the caller's; the promise resolves once it is sent.
   */
  scanoutDmabuf(
    fd: number,
    width: number,
    height: number,
    stride: number,
    fourcc: number,
    modifier: bigint,
    y0Top: boolean,
  ): Promise<void> {
    this.setSize(width, height);
    return this.send({
      path: LISTENER_PATH,
      interface: IFACE.listener,
      member: 'ScanoutDMABUF',
      signature: 'huuuutb',
      body: [fd, width, height, stride, fourcc, modifier, y0Top],
    });
  }

  /**
   * UpdateDMABUF(x, y, width, height), sent expecting a reply, as QEMU does: resolves when every
   * listener acknowledged it; rejects with DbusErrorReply on an error reply, DbusTimeoutError when
   * one did not answer within QEMU's timeout.
   */
  async updateDmabuf(x: number, y: number, width: number, height: number): Promise<void> {
    const call: OutgoingCall = {
      path: LISTENER_PATH,
      interface: IFACE.listener,
      member: 'UpdateDMABUF',
      signature: 'iiii',
      body: [x, y, width, height],
    };
    await Promise.all(this.targets().map((l) => l.peer.call(call, this.updateDmabufTimeoutMs)));
  }

  /** CursorDefine(width, height, hot_x, hot_y, data): the cursor's ARGB pixels (B,G,R,A bytes). */
  cursorDefine(width: number, height: number, hotX: number, hotY: number, pixels: Uint8Array): Promise<void> {
    return this.send({
      path: LISTENER_PATH,
      interface: IFACE.listener,
      member: 'CursorDefine',
      signature: 'iiiiay',
      body: [width, height, hotX, hotY],
      tail: pixels,
    });
  }

  /** MouseSet(x, y, on): the cursor position and visibility. */
  mouseSet(x: number, y: number, on: boolean): Promise<void> {
    return this.send({
      path: LISTENER_PATH,
      interface: IFACE.listener,
      member: 'MouseSet',
      signature: 'iii',
      body: [x, y, on ? 1 : 0],
    });
  }

  /** Disable(): the console has no surface any more. */
  disable(): Promise<void> {
    return this.send({ path: LISTENER_PATH, interface: IFACE.listener, member: 'Disable' });
  }

  /** Leaves the bus and closes every listener link (as QEMU exiting would). Safe twice. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const l of this.links) l.peer.close();
    this.links.length = 0;
    this.bus.disconnect();
  }
}

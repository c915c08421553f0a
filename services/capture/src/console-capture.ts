import { EventEmitter } from 'node:events';
import dbus from 'dbus-next';
import {
  type BadInputLog,
  ProtocolError,
  nowUs,
  publishProto,
  subjects,
  type Logger,
  type NatsConnection,
  type PublishGate,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { IFACE, LISTENER_PATH, PeerLink, type IncomingCall, type QemuConsole } from '@qemu-webrtc/qemu-dbus';
import { BacklogProbe } from './backlog-probe.js';
import { ConsoleSurface } from './console-surface.js';
import type { DmabufReader } from './dmabuf-reader.js';
import { FramePublisher } from './frame-publisher.js';
import { LISTENER_METHODS, listenerIntrospection } from './listener-calls.js';
import type { CaptureMetrics } from './metrics.js';
import { closeFd } from './frame-copy.js';
import { socketpair } from './native.js';

const { CursorShape, CursorPosition } = qemu_webrtc.v1;
const MAX_CURSOR = 512;
/** How often QEMU's backlog is measured (a ping on the listener link). */
const BACKLOG_PROBE_MS = 250;
/**
 * More frames than this queued ahead of a ping: QEMU does not flow-control (9.2+ drops queued updates
 * a newer scanout replaces, so it never holds more than about one frame and its updates for us).
 */
const NO_FLOW_CONTROL_FRAMES = 4;

/**
 * Why capture dropped its own listener link: QEMU had queued too much for it. Registering again
 * empties QEMU's queue (it frees what it queued for the old link) and starts with a fresh Scanout.
 */
export class ListenerBacklogReset extends Error {
  override readonly name = 'ListenerBacklogReset';
}

export interface ConsoleCaptureOptions {
  console: QemuConsole;
  vmId: string;
  nc: NatsConnection;
  gate: PublishGate;
  ringDir: string;
  ringSlots: number;
  maxFps: number;
  /** Offer org.qemu.Display1.Listener.Unix.Map (QEMU 9.2+ then shares its framebuffer memfd). */
  offerUnixMap: boolean;
  /** Reads DMA-BUF scanouts (gl=on); created on first use. */
  dmabuf: () => DmabufReader;
  /**
   * Seconds QEMU may be behind on a link that carries inline pixels before capture drops the link
   * and registers again (QEMU before 9.2 queues inline updates without limit); 0: never.
   */
  maxBacklogS: number;
  /**
   * Called when QEMU shows it does not flow-control this link (it queued several frames for us);
   * `evidence` says what was seen. May be called more than once.
   */
  onNoFlowControl: (evidence: string) => void;
  metrics: CaptureMetrics;
  logger: Logger;
  /** Rate-limited warnings about what QEMU sends that we refuse. */
  badInput: BadInputLog;
}

interface Events {
  closed: [Error | undefined];
  enabled: [boolean];
}

/**
 * Captures one graphic console: registers a display listener with QEMU over a socket pair, applies
 * everything QEMU sends to the console's surface, and publishes frames and the cursor.
 */
export class ConsoleCapture extends EventEmitter<Events> {
  readonly surface = new ConsoleSurface();
  private readonly publisher: FramePublisher;
  private readonly connection: PeerLink;
  private readonly backlog: BacklogProbe;
  /** QEMU shared its framebuffer on this link (Listener.Unix.Map, QEMU 9.2+). */
  private sawMap = false;
  private readonly logger: Logger;
  private readonly offered: string[];
  private cursorSerial = 0;
  /** DMA-BUF work runs in order: an update waits for the import of its scanout. */
  private dmabufChain: Promise<void> = Promise.resolve();
  private dmabufHandle: number | undefined;
  private dmabufFlip = false;
  /** The listener link closed: nothing imported from now on may stay imported. */
  private tornDown = false;
  enabled = true;

  private constructor(
    private readonly opts: ConsoleCaptureOptions,
    ourFd: number,
  ) {
    super();
    this.logger = opts.logger.child({ console: opts.console.id });
    this.offered = opts.offerUnixMap
      ? [IFACE.listenerUnixMap, IFACE.listenerUnixScanoutDmabuf2]
      : [IFACE.listenerUnixScanoutDmabuf2];
    this.publisher = new FramePublisher(this.surface, { ...opts, consoleId: opts.console.id });
    // We are the authenticating client and never send Hello; QEMU calls, we answer.
    this.connection = PeerLink.connect(ourFd, { peerName: 'QEMU' });
    this.connection.on('call', (call) => {
      this.onCall(call);
    });
    this.connection.on('close', (error) => {
      this.teardown();
      this.emit('closed', error);
    });
    this.backlog = new BacklogProbe(this.connection, BACKLOG_PROBE_MS, {
      onWaiting: (seconds) => {
        this.onBehind(seconds);
      },
      onMeasured: ({ bytes }) => {
        const g = this.surface.geometry;
        const frames = g ? bytes / (g.stride * g.height) : 0;
        if (!this.sawMap && frames > NO_FLOW_CONTROL_FRAMES) {
          this.opts.onNoFlowControl(`it had ${frames.toFixed(0)} frames queued for capture`);
        }
      },
    });
    opts.metrics.backlogs.set(opts.console.id, this.readBacklog);
  }

  private readonly readBacklog = (): ReturnType<BacklogProbe['current']> => this.backlog.current();

  /** A ping has waited `seconds` for QEMU's reply: everything QEMU queued before it is older still. */
  private onBehind(seconds: number): void {
    const max = this.opts.maxBacklogS;
    if (max <= 0 || seconds <= max || this.surface.kind !== 'inline') return;
    const backlog = this.backlog.current();
    if (!this.sawMap) this.opts.onNoFlowControl(`it fell over ${max} s behind`);
    this.opts.metrics.listenerResets.inc({ reason: 'backlog' });
    this.connection.close(
      new ListenerBacklogReset(
        `QEMU is over ${seconds.toFixed(1)} s behind (${Math.round(backlog.bytes / 1e6)} MB read since); ` +
          "dropping the listener link empties QEMU's queue",
      ),
    );
  }

  /** Registers the listener; resolves once QEMU accepted it. */
  static async start(opts: ConsoleCaptureOptions): Promise<ConsoleCapture> {
    const [ours, theirs] = socketpair();
    const capture = new ConsoleCapture(opts, ours);
    try {
      await opts.console.registerListener(theirs);
    } catch (error) {
      capture.close();
      throw error;
    } finally {
      closeFd(theirs);
    }
    capture.logger.info({ interfaces: capture.offered }, 'display listener registered');
    return capture;
  }

  get consoleId(): number {
    return this.opts.console.id;
  }

  private onCall(call: IncomingCall): void {
    const method = `${call.interface}.${call.member}`;
    this.opts.metrics.qemuMessages.inc({ method: call.member });
    const receivedUs = nowUs();
    const consumed = new Set<number>();
    try {
      if (call.path !== LISTENER_PATH) {
        this.connection.replyError(
          call,
          'org.freedesktop.DBus.Error.UnknownObject',
          `no object at ${call.path}`,
        );
      } else if (
        call.interface === IFACE.properties ||
        call.interface === 'org.freedesktop.DBus.Introspectable' ||
        call.interface === 'org.freedesktop.DBus.Peer'
      ) {
        this.onStandardCall(call);
      } else {
        const expected = (LISTENER_METHODS as Record<string, Record<string, string> | undefined>)[
          call.interface
        ]?.[call.member];
        if (expected === undefined) {
          this.connection.replyError(
            call,
            'org.freedesktop.DBus.Error.UnknownMethod',
            `unknown method ${method}`,
          );
        } else if (expected !== call.signature) {
          throw new ProtocolError(`${method} with signature '${call.signature}', expected '${expected}'`);
        } else {
          this.onListenerCall(call, receivedUs, consumed);
        }
      }
    } catch (error) {
      this.opts.metrics.framesDropped.inc({ reason: 'bad-input' });
      this.opts.badInput.warn(
        `qemu:${call.member}`,
        { console: this.consoleId, method, err: error },
        'dropped a bad message from QEMU',
      );
      this.connection.replyError(call, 'org.qemu.Display1.Error.Failed', String(error));
    } finally {
      for (const fd of call.fds) if (!consumed.has(fd)) closeFd(fd);
    }
  }

  private onStandardCall(call: IncomingCall): void {
    const interfaces = new dbus.Variant('as', this.offered);
    if (call.member === 'GetAll' && call.body[0] === IFACE.listener) {
      this.connection.reply(call, 'a{sv}', [{ Interfaces: interfaces }]);
    } else if (call.member === 'GetAll') {
      this.connection.reply(call, 'a{sv}', [{}]);
    } else if (call.member === 'Get' && call.body[0] === IFACE.listener && call.body[1] === 'Interfaces') {
      this.connection.reply(call, 'v', [interfaces]);
    } else if (call.member === 'Introspect') {
      this.connection.reply(call, 's', [listenerIntrospection(this.offered)]);
    } else if (call.member === 'Ping') {
      this.connection.reply(call);
    } else {
      this.connection.replyError(
        call,
        'org.freedesktop.DBus.Error.UnknownMethod',
        `unknown method ${call.member}`,
      );
    }
  }

  private onListenerCall(call: IncomingCall, receivedUs: number, consumed: Set<number>): void {
    const b = call.body;
    const n = (i: number): number => b[i] as number;
    if (call.member === 'ScanoutMap') this.sawMap = true;
    switch (call.member) {
      case 'Scanout':
        this.setEnabled(true);
        this.publisher.damage(this.surface.scanout(n(0), n(1), n(2), n(3), b[4] as Buffer), receivedUs);
        break;
      case 'Update':
        this.publisher.damage(
          this.surface.update(n(0), n(1), n(2), n(3), n(4), n(5), b[6] as Buffer),
          receivedUs,
        );
        break;
      case 'ScanoutMap': {
        this.setEnabled(true);
        // A mapping outlives the fd: closed after mapping (in onCall's finally) unless kept for reading.
        const map = this.surface.scanoutMap(n(0), n(1), n(2), n(3), n(4), n(5));
        if (map.keptFd) {
          consumed.add(n(0));
          this.opts.badInput.warn(
            'memfd-unsealed',
            { console: this.consoleId, seals: map.seals },
            "QEMU's framebuffer memfd is not sealed against shrinking: reading it (pread), not mapping it",
          );
        }
        this.publisher.damage(map.rect, receivedUs);
        break;
      }
      case 'UpdateMap':
        this.publisher.damage(this.surface.updateMap(n(0), n(1), n(2), n(3)), receivedUs);
        break;
      case 'ScanoutDMABUF': {
        const fd = n(0);
        this.setEnabled(true);
        this.scanoutDmabuf([fd], n(1), n(2), [0], [n(3)], n(4), b[5] as bigint, b[6] as boolean, consumed);
        break;
      }
      case 'ScanoutDMABUF2': {
        const fds = b[0] as number[];
        const planes = n(7);
        if (planes < 1 || planes > 4 || fds.length < planes)
          throw new ProtocolError(`ScanoutDMABUF2 with ${planes} planes, ${fds.length} fds`);
        this.setEnabled(true);
        // x/y/width/height select the visible part of a backing buffer; we show the backing size cropped later.
        this.scanoutDmabuf(
          fds.slice(0, planes),
          n(9),
          n(10),
          (b[5] as number[]).slice(0, planes),
          (b[6] as number[]).slice(0, planes),
          n(8),
          b[11] as bigint,
          b[12] as boolean,
          consumed,
        );
        break;
      }
      case 'UpdateDMABUF':
        this.updateDmabuf(call, n(0), n(1), n(2), n(3), receivedUs);
        return; // replied when the pixels are read back
      case 'Disable':
        this.surface.disable();
        this.releaseDmabuf();
        this.setEnabled(false);
        break;
      case 'MouseSet':
        if (!this.opts.gate.tryAcquire()) break; // NATS stalled: a later position supersedes this one
        publishProto(this.opts.nc, subjects.cursorPosition(this.opts.vmId, this.consoleId), CursorPosition, {
          vmId: this.opts.vmId,
          consoleId: this.consoleId,
          x: n(0),
          y: n(1),
          visible: n(2) !== 0,
        });
        break;
      case 'CursorDefine':
        this.cursorDefine(n(0), n(1), n(2), n(3), b[4] as Buffer);
        break;
    }
    this.connection.reply(call);
  }

  private cursorDefine(width: number, height: number, hotX: number, hotY: number, data: Buffer): void {
    if (width < 1 || height < 1 || width > MAX_CURSOR || height > MAX_CURSOR)
      throw new ProtocolError(`cursor size ${width}x${height}`);
    if (data.byteLength < width * height * 4)
      throw new ProtocolError(`cursor ${width}x${height} with ${data.byteLength} bytes`);
    if (!this.opts.gate.tryAcquire()) {
      this.opts.metrics.framesDropped.inc({ reason: 'nats' });
      return;
    }
    publishProto(this.opts.nc, subjects.cursorShape(this.opts.vmId, this.consoleId), CursorShape, {
      vmId: this.opts.vmId,
      consoleId: this.consoleId,
      width,
      height,
      hotX,
      hotY,
      pixels: data.subarray(0, width * height * 4),
      serial: ++this.cursorSerial,
    });
  }

  private scanoutDmabuf(
    fds: number[],
    width: number,
    height: number,
    offsets: number[],
    strides: number[],
    fourcc: number,
    modifier: bigint,
    y0Top: boolean,
    consumed: Set<number>,
  ): void {
    // A new scanout replaces the old buffer whatever happens next: an UpdateDMABUF must never be
    // acknowledged against the buffer this one replaced.
    this.surface.disable();
    this.dmabufChain = this.dmabufChain.then(() => {
      this.releaseDmabuf();
    });
    const reader = this.opts.dmabuf();
    const format = reader.formatOf(fourcc);
    this.surface.scanoutDmabuf(width, height, format);
    for (const fd of fds) consumed.add(fd);
    this.dmabufFlip = !y0Top;
    this.dmabufChain = this.dmabufChain
      .then(async () => {
        this.releaseDmabuf();
        try {
          if (this.isTornDown()) return; // arrived with (or after) the link's end: only close its fds
          const handle = await reader.import({ fds, width, height, fourcc, modifier, offsets, strides });
          // Teardown ran while the import was under way: it had nothing to release, so release here.
          if (this.isTornDown()) reader.release(handle);
          else this.dmabufHandle = handle;
        } finally {
          for (const fd of fds) closeFd(fd);
        }
      })
      .catch((error: unknown) => {
        this.opts.metrics.framesDropped.inc({ reason: 'dmabuf-import' });
        this.logger.warn(
          { err: error, width, height, fourcc: fourcc.toString(16), modifier: modifier.toString(16) },
          'DMA-BUF import failed',
        );
      });
  }

  private updateDmabuf(
    call: IncomingCall,
    x: number,
    y: number,
    width: number,
    height: number,
    receivedUs: number,
  ): void {
    // QEMU holds the guest's GL output until this reply: answer as soon as the pixels are ours.
    this.dmabufChain = this.dmabufChain.then(async () => {
      try {
        const g = this.surface.geometry;
        const handle = this.dmabufHandle;
        if (!g || !this.surface.pixels || handle === undefined || this.surface.kind !== 'dmabuf') {
          throw new ProtocolError('UpdateDMABUF without an imported DMA-BUF scanout');
        }
        const rect = this.surface.clip(x, y, width, height, 'UpdateDMABUF');
        await this.opts.dmabuf().read(handle, rect, this.surface.pixels, g.stride, this.dmabufFlip);
        this.publisher.damage(rect, receivedUs);
        this.connection.reply(call);
      } catch (error) {
        this.opts.metrics.framesDropped.inc({ reason: 'dmabuf-read' });
        this.logger.warn({ err: error }, 'DMA-BUF read-back failed');
        this.connection.replyError(call, 'org.qemu.Display1.Error.Failed', String(error));
      }
    });
  }

  private releaseDmabuf(): void {
    if (this.dmabufHandle !== undefined) {
      this.opts.dmabuf().release(this.dmabufHandle);
      this.dmabufHandle = undefined;
    }
  }

  private setEnabled(enabled: boolean): void {
    if (this.enabled === enabled) return;
    this.enabled = enabled;
    this.emit('enabled', enabled);
  }

  /** A method, not the field: its value changes across an await. */
  private isTornDown(): boolean {
    return this.tornDown;
  }

  private teardown(): void {
    this.backlog.stop();
    if (this.opts.metrics.backlogs.get(this.consoleId) === this.readBacklog) {
      // Until the next link of this console (or VmCapture.stop), the gauges show this link's last.
      const last = this.backlog.current();
      this.opts.metrics.backlogs.set(this.consoleId, () => last);
    }
    this.tornDown = true;
    this.publisher.destroy();
    this.surface.disable(); // closes a memfd kept for reading
    this.releaseDmabuf();
  }

  /** Announces the newest frame again (a refresh request). */
  reannounceFrame(): void {
    this.publisher.reannounce();
  }

  /** Drops the listener (QEMU unregisters it when the socket closes). Safe twice. */
  close(): void {
    this.connection.close();
    this.teardown();
  }
}

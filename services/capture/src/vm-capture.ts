import type dbus from 'dbus-next';
import {
  type BadInputLog,
  defaultVmId,
  publishProto,
  subjects,
  type Logger,
  type NatsConnection,
  type PublishGate,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  IFACE,
  QEMU_BUS_NAME,
  QemuConsole,
  callMethod,
  getAllProperties,
  readVmProperties,
  type MessageBus,
} from '@qemu-webrtc/qemu-dbus';
import type { CaptureConfig } from './config.js';
import { AudioCapture } from './audio-capture.js';
import { ConsoleCapture, ListenerBacklogReset } from './console-capture.js';
import type { DmabufReader } from './dmabuf-reader.js';
import type { CaptureMetrics } from './metrics.js';

const { ConsoleInfo } = qemu_webrtc.v1;
const RETRY_MS = 1000;

export interface VmCaptureOptions {
  bus: MessageBus;
  nc: NatsConnection;
  gate: PublishGate;
  config: CaptureConfig;
  dmabuf: () => DmabufReader;
  metrics: CaptureMetrics;
  logger: Logger;
  badInput: BadInputLog;
}

/** One running QEMU: its consoles, their listeners, and the ConsoleInfo we publish for them. */
export class VmCapture {
  readonly captures = new Map<number, ConsoleCapture>();
  /** QEMU's audio output, when the VM has D-Bus audio (ConsoleInfo.has_audio says so). */
  audio: AudioCapture | undefined;
  private hasAudio = false;
  private readonly infos = new Map<number, qemu_webrtc.v1.IConsoleInfo>();
  private stopped = false;
  private warnedOld = false;
  private backlogResets = 0;
  private readonly retries = new Set<NodeJS.Timeout>();
  private readonly onMessage = (msg: dbus.Message): void => {
    if (msg.member === 'PropertiesChanged' && msg.path.startsWith('/org/qemu/Display1/Console_')) {
      const id = Number(msg.path.slice('/org/qemu/Display1/Console_'.length));
      if (this.infos.has(id)) void this.refreshInfo(id);
    }
  };

  private constructor(
    private readonly opts: VmCaptureOptions,
    readonly vmId: string,
    private readonly vm: { name: string; uuid: string },
  ) {}

  static async start(opts: VmCaptureOptions): Promise<VmCapture> {
    const props = await readVmProperties(opts.bus);
    const vmId = opts.config.VM_ID ?? defaultVmId(props);
    const vm = new VmCapture(opts, vmId, props);
    opts.logger.info({ vmId, name: props.name, consoles: props.consoleIds }, 'QEMU found');
    opts.bus.on('message', vm.onMessage);
    await callMethod(opts.bus, {
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: IFACE.dbus,
      member: 'AddMatch',
      signature: 's',
      body: [
        `type='signal',sender='${QEMU_BUS_NAME}',interface='${IFACE.properties}',member='PropertiesChanged'`,
      ],
    });
    await vm.startAudio();
    for (const id of props.consoleIds) await vm.startConsole(id);
    return vm;
  }

  private async startConsole(id: number): Promise<void> {
    if (this.stopped) return;
    const console = new QemuConsole(this.opts.bus, id);
    const info = await this.refreshInfo(id);
    if (!info?.graphic) return; // text consoles have no framebuffer to capture
    // MultiTouch came with QEMU 8.1: a graphic console without it is older still.
    if (!info.hasMultitouch) this.warnOldQemu('its consoles have no MultiTouch, so it is older than 8.1');
    try {
      const capture = await ConsoleCapture.start({
        console,
        vmId: this.vmId,
        nc: this.opts.nc,
        gate: this.opts.gate,
        ringDir: this.opts.config.RING_DIR,
        ringSlots: this.opts.config.RING_SLOTS,
        maxFps: this.opts.config.CAPTURE_MAX_FPS,
        offerUnixMap: this.opts.config.OFFER_UNIX_MAP,
        maxBacklogS: this.opts.config.CAPTURE_MAX_BACKLOG_S,
        onNoFlowControl: (evidence) => {
          this.warnOldQemu(evidence);
        },
        dmabuf: this.opts.dmabuf,
        metrics: this.opts.metrics,
        badInput: this.opts.badInput,
        logger: this.opts.logger.child({ vmId: this.vmId }),
      });
      this.captures.set(id, capture);
      capture.on('enabled', () => void this.refreshInfo(id));
      capture.on('closed', (error) => {
        this.captures.delete(id);
        if (this.stopped) return;
        if (error instanceof ListenerBacklogReset) {
          // Warned about once; the count is in capture_listener_resets_total.
          const log = this.backlogResets++ === 0 ? 'warn' : 'debug';
          this.opts.logger[log](
            { console: id, reason: error.message },
            'listener link dropped; registering again',
          );
          this.retry(id, 0);
          return;
        }
        this.opts.logger.warn({ console: id, err: error }, 'display listener closed; registering again');
        this.retry(id);
      });
    } catch (error) {
      this.opts.logger.warn({ console: id, err: error }, 'could not register a display listener; retrying');
      this.retry(id);
    }
  }

  /**
   * Registers an audio output listener. A VM without D-Bus audio refuses (no Audio object): it has
   * no audio, said once. A link that closes is registered again, like the display listeners.
   */
  private async startAudio(): Promise<void> {
    if (this.stopped) return;
    try {
      const audio = await AudioCapture.start({
        ...this.opts,
        vmId: this.vmId,
        logger: this.opts.logger.child({ vmId: this.vmId }),
      });
      // Read again: stop() may have run during the await.
      if (this.isStopped()) {
        audio.close();
        return;
      }
      this.audio = audio;
      audio.on('closed', (error) => {
        if (this.audio === audio) this.audio = undefined;
        if (this.stopped) return;
        this.opts.logger.warn({ err: error }, 'audio listener closed; registering again');
        const timer = setTimeout(() => {
          this.retries.delete(timer);
          void this.startAudio();
        }, RETRY_MS);
        this.retries.add(timer);
      });
      if (!this.hasAudio) {
        this.hasAudio = true;
        for (const id of this.infos.keys()) void this.refreshInfo(id);
      }
    } catch (error) {
      if (this.hasAudio) {
        this.opts.logger.warn({ err: error }, 'could not register the audio listener again');
      } else {
        this.opts.logger.info(
          { reason: error instanceof Error ? error.message : String(error) },
          'the VM has no D-Bus audio (needs -audiodev dbus,id=X and -display dbus,...,audiodev=X): no audio track',
        );
      }
    }
  }

  private retry(id: number, delayMs = RETRY_MS): void {
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      void this.startConsole(id);
    }, delayMs);
    this.retries.add(timer);
  }

  /** Says once per QEMU, plainly, that it cannot flow-control its display and what to do. */
  private warnOldQemu(evidence: string): void {
    if (this.warnedOld) return;
    this.warnedOld = true;
    this.opts.logger.warn(
      { vmId: this.vmId, evidence, maxBacklogS: this.opts.config.CAPTURE_MAX_BACKLOG_S },
      `QEMU is too old to flow-control its D-Bus display (${evidence}): before 9.2 QEMU queues ` +
        'every screen update in its own memory while capture falls behind, and the picture lags. ' +
        'Capture reads continuously and drops and re-registers its listener when QEMU is more than ' +
        'CAPTURE_MAX_BACKLOG_S seconds behind, which bounds that memory but makes the picture jump. ' +
        'Use QEMU 9.2 or newer.',
    );
  }

  /** Reads a console's properties and publishes its ConsoleInfo. */
  async refreshInfo(id: number): Promise<qemu_webrtc.v1.IConsoleInfo | undefined> {
    const console = new QemuConsole(this.opts.bus, id);
    try {
      const props = await console.properties();
      const [xml] = await callMethod(this.opts.bus, {
        destination: QEMU_BUS_NAME,
        path: console.path,
        interface: 'org.freedesktop.DBus.Introspectable',
        member: 'Introspect',
      });
      const has = (iface: string): boolean => typeof xml === 'string' && xml.includes(`"${iface}"`);
      const hasMouse = has(IFACE.mouse);
      const hasTouch = has(IFACE.multiTouch);
      const touch = hasTouch
        ? await getAllProperties(this.opts.bus, QEMU_BUS_NAME, console.path, IFACE.multiTouch)
        : {};
      const capture = this.captures.get(id);
      const geometry = capture?.surface.geometry;
      const info: qemu_webrtc.v1.IConsoleInfo = {
        vmId: this.vmId,
        consoleId: id,
        label: props.label,
        width: props.width || geometry?.width || 0,
        height: props.height || geometry?.height || 0,
        graphic: props.type === 'Graphic',
        hasKeyboard: has(IFACE.keyboard),
        hasMouse,
        hasMultitouch: hasTouch,
        mouseIsAbsolute: hasMouse ? await console.mouseIsAbsolute() : false,
        touchMaxSlots: typeof touch.MaxSlots === 'number' ? touch.MaxSlots : 0,
        enabled: capture?.enabled ?? true,
        vmUuid: this.vm.uuid,
        vmName: this.vm.name,
        hasAudio: this.hasAudio,
      };
      this.infos.set(id, info);
      this.publishInfo(info);
      return info;
    } catch (error) {
      this.opts.logger.warn({ console: id, err: error }, 'could not read console properties');
      return undefined;
    }
  }

  /** Publishes every console's last known info (on request, and periodically). */
  republish(): void {
    for (const info of this.infos.values()) this.publishInfo(info);
  }

  /** Announces every console's newest frame again (an encoder starting a stream on demand). */
  reannounceFrames(): void {
    for (const capture of this.captures.values()) capture.reannounceFrame();
  }

  private publishInfo(info: qemu_webrtc.v1.IConsoleInfo): void {
    if (!this.opts.gate.tryAcquire()) return; // republished periodically anyway
    publishProto(this.opts.nc, subjects.consoleInfo(this.vmId, info.consoleId ?? 0), ConsoleInfo, info);
  }

  /** A method, not the field: its value changes across an await. */
  private isStopped(): boolean {
    return this.stopped;
  }

  /** Stops capturing (QEMU went away, or shutdown). Safe twice. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.opts.bus.off('message', this.onMessage);
    for (const t of this.retries) clearTimeout(t);
    for (const capture of this.captures.values()) capture.close();
    this.captures.clear();
    this.audio?.close();
    this.audio = undefined;
    for (const id of this.infos.keys()) this.opts.metrics.backlogs.delete(id);
  }
}

import { EventEmitter } from 'node:events';
import type { qemu_webrtc } from '@qemu-webrtc/proto';

/** A console as the API lists it. */
export interface ConsoleEntry {
  vmId: string;
  consoleId: number;
  label: string;
  vmName: string;
  vmUuid: string;
  width: number;
  height: number;
  graphic: boolean;
  enabled: boolean;
  hasKeyboard: boolean;
  hasMouse: boolean;
  hasMultitouch: boolean;
  mouseIsAbsolute: boolean;
  touchMaxSlots: number;
  /** Capture announced it recently (it republishes every few seconds while QEMU runs). */
  running: boolean;
  /** Milliseconds since the last announcement. */
  lastSeenMs: number;
}

interface Seen {
  info: qemu_webrtc.v1.ConsoleInfo;
  at: number;
}

interface Events {
  changed: [entry: ConsoleEntry];
}

/** Consoles whose ConsoleInfo capture has published, by "vm.console". */
export class ConsoleDirectory extends EventEmitter<Events> {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly staleMs: number,
    /** Entries not seen for this long are forgotten. */
    private readonly forgetMs = staleMs * 20,
    private readonly now: () => number = () => performance.now(),
  ) {
    super();
  }

  update(info: qemu_webrtc.v1.ConsoleInfo): void {
    if (info.vmId === '') return;
    const key = `${info.vmId}.${info.consoleId}`;
    const previous = this.seen.get(key);
    this.seen.set(key, { info, at: this.now() });
    const changed =
      !previous ||
      previous.info.width !== info.width ||
      previous.info.height !== info.height ||
      previous.info.enabled !== info.enabled ||
      previous.info.mouseIsAbsolute !== info.mouseIsAbsolute ||
      this.now() - previous.at > this.staleMs;
    if (changed) {
      const entry = this.get(info.vmId, info.consoleId);
      if (entry) this.emit('changed', entry);
    }
  }

  get(vmId: string, consoleId: number): ConsoleEntry | undefined {
    const s = this.seen.get(`${vmId}.${consoleId}`);
    return s ? this.entry(s) : undefined;
  }

  /** Every known console, sorted by VM then console; long-gone ones are dropped. */
  list(): ConsoleEntry[] {
    const now = this.now();
    for (const [key, s] of this.seen) if (now - s.at > this.forgetMs) this.seen.delete(key);
    return [...this.seen.values()]
      .map((s) => this.entry(s))
      .sort((a, b) => (a.vmId < b.vmId ? -1 : a.vmId > b.vmId ? 1 : a.consoleId - b.consoleId));
  }

  private entry({ info, at }: Seen): ConsoleEntry {
    const age = this.now() - at;
    return {
      vmId: info.vmId,
      consoleId: info.consoleId,
      label: info.label,
      vmName: info.vmName,
      vmUuid: info.vmUuid,
      width: info.width,
      height: info.height,
      graphic: info.graphic,
      enabled: info.enabled,
      hasKeyboard: info.hasKeyboard,
      hasMouse: info.hasMouse,
      hasMultitouch: info.hasMultitouch,
      mouseIsAbsolute: info.mouseIsAbsolute,
      touchMaxSlots: info.touchMaxSlots,
      running: age <= this.staleMs,
      lastSeenMs: Math.round(age),
    };
  }
}

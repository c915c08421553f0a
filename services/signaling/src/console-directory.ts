import type { ConsoleEntry } from '@qemu-webrtc/common';
import type { qemu_webrtc } from '@qemu-webrtc/proto';

interface Seen {
  info: qemu_webrtc.v1.ConsoleInfo;
  at: number;
}

/**
 * Consoles whose ConsoleInfo capture has published, by "vm.console". Whoever shows a console
 * (a WebSocket session) watches that one console: watchers are kept per console, so a change
 * reaches only its own watchers, however many sessions are open (no emitter with one listener per
 * session, which Node warns about from the 11th).
 */
export class ConsoleDirectory {
  private readonly seen = new Map<string, Seen>();
  private readonly watchers = new Map<string, Set<(entry: ConsoleEntry) => void>>();

  constructor(
    private readonly staleMs: number,
    /** Entries not seen for this long are forgotten. */
    private readonly forgetMs = staleMs * 20,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Calls `fn` with the console's entry whenever it changes; returns the function that stops it. */
  watch(vmId: string, consoleId: number, fn: (entry: ConsoleEntry) => void): () => void {
    const key = `${vmId}.${consoleId}`;
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    const watchers = set;
    watchers.add(fn);
    return () => {
      watchers.delete(fn);
      if (watchers.size === 0 && this.watchers.get(key) === watchers) this.watchers.delete(key);
    };
  }

  /** Functions watching consoles now (for tests and leak checks). */
  get watcherCount(): number {
    let n = 0;
    for (const set of this.watchers.values()) n += set.size;
    return n;
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
      previous.info.hasAudio !== info.hasAudio ||
      this.now() - previous.at > this.staleMs;
    if (changed) {
      const watchers = this.watchers.get(key);
      const entry = watchers && this.get(info.vmId, info.consoleId);
      if (watchers && entry) for (const fn of [...watchers]) fn(entry);
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
      hasAudio: info.hasAudio,
      running: age <= this.staleMs,
      lastSeenMs: Math.round(age),
    };
  }
}

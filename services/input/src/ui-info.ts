import { QEMU_ERROR_UNSUPPORTED, type QemuConsole } from '@qemu-webrtc/qemu-dbus';
import type { CallRunner } from './dbus-calls.js';
import type { InputMetrics } from './metrics.js';

/** How long the console's size may take to become the one asked for before the hint is `ignored`. */
export const UI_INFO_SETTLE_MS = 3000;
/** How often the console's size (followed from the bus by VmLink) is looked at meanwhile. */
const SETTLE_POLL_MS = 50;

export type UiInfoOutcome = 'applied' | 'unsupported' | 'ignored' | 'failed';

/** One viewer's SetUIInfo hint, already clamped (input-limits.ts). */
export interface UiInfoRequest {
  viewerId: string;
  sequence: number;
  width: number;
  height: number;
  widthMm: number;
  heightMm: number;
}

export interface UiInfoReport {
  request: UiInfoRequest;
  outcome: UiInfoOutcome;
  consoleWidth: number;
  consoleHeight: number;
}

export interface UiInfoTarget {
  /** QEMU's console object on the current bus; undefined while QEMU is away. */
  qemu(): Pick<QemuConsole, 'setUiInfo'> | undefined;
  /** The console's size as the bus last said it; undefined while QEMU is away. */
  size(): { width: number; height: number } | undefined;
}

/** True when QEMU refused SetUIInfo because the device cannot resize (std VGA). */
export function isUnsupported(error: Error): boolean {
  const type = (error as Error & { type?: unknown }).type;
  return type === QEMU_ERROR_UNSUPPORTED || /not supported/i.test(error.message);
}

/**
 * Console.SetUIInfo on one console, latest wins: one call in flight; a hint that comes meanwhile
 * replaces any waiting one and goes out when the call returns. After QEMU accepts a hint, the
 * console's size is watched for UI_INFO_SETTLE_MS: `applied` once it is the size asked for, else
 * `ignored` (a newer hint ends the watch without a report). Every outcome goes to `report`.
 */
export class UiInfoSetter {
  private inFlight = false;
  private waiting: UiInfoRequest | undefined;
  /** Bumped by each hint sent: an older hint's watch stops. */
  private generation = 0;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly target: UiInfoTarget,
    private readonly calls: CallRunner,
    private readonly metrics: InputMetrics,
    private readonly report: (r: UiInfoReport) => void,
    private readonly settleMs = UI_INFO_SETTLE_MS,
  ) {}

  request(r: UiInfoRequest): void {
    if (this.closed) return;
    if (this.inFlight) {
      if (this.waiting) this.metrics.uiInfo.inc({ outcome: 'superseded' });
      this.waiting = r;
      return;
    }
    void this.send(r);
  }

  private done(request: UiInfoRequest, outcome: UiInfoOutcome): void {
    const size = this.target.size();
    this.metrics.uiInfo.inc({ outcome });
    this.report({
      request,
      outcome,
      consoleWidth: size?.width ?? 0,
      consoleHeight: size?.height ?? 0,
    });
  }

  private async send(r: UiInfoRequest): Promise<void> {
    const generation = ++this.generation;
    const qemu = this.target.qemu();
    if (!qemu) {
      this.done(r, 'failed');
      return;
    }
    this.inFlight = true;
    // xoff/yoff 0: the page's player area is one screen, not a place in a larger desktop.
    const result = await this.calls.run('SetUIInfo', () =>
      qemu.setUiInfo(r.widthMm, r.heightMm, 0, 0, r.width, r.height),
    );
    this.inFlight = false;
    const next = this.waiting;
    this.waiting = undefined;
    if (this.closed) return;
    if (!result.ok) this.done(r, !result.timedOut && isUnsupported(result.error) ? 'unsupported' : 'failed');
    else if (next === undefined) this.watch(r, generation, performance.now());
    else this.metrics.uiInfo.inc({ outcome: 'superseded' });
    if (next) void this.send(next);
  }

  /** Waits for the console's size to become the one asked for (or a newer hint, or the time). */
  private watch(r: UiInfoRequest, generation: number, since: number): void {
    if (this.closed || generation !== this.generation) return;
    const size = this.target.size();
    if (size?.width === r.width && size.height === r.height) {
      this.done(r, 'applied');
      return;
    }
    if (performance.now() - since >= this.settleMs) {
      this.done(r, 'ignored');
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.watch(r, generation, since);
    }, SETTLE_POLL_MS);
    this.timers.add(timer);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

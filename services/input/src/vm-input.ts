import type { Logger } from '@qemu-webrtc/common';
import type { InputConfig, VmRoute } from './config.js';
import type { Outcome } from './console-target.js';
import type { InputMetrics } from './metrics.js';
import { Viewer } from './viewer.js';
import { isRelease, type ActionKind, type DropReason, type ValidEvent } from './validate.js';
import { VmLink } from './vm-link.js';
import { UiInfoSetter, type UiInfoReport } from './ui-info.js';

export type ReleaseReason = 'release_all' | 'idle' | 'stop';

/** An event that reached QEMU: for tests and benchmarks (`InputService.on('applied')`). */
export interface AppliedEvent {
  vmId: string;
  viewerId: string;
  sequence: number;
  kind: ActionKind;
  receivedUs: number;
  /** performance.now() when the event came off NATS, and when its last D-Bus call returned. */
  startMs: number;
  doneMs: number;
}

export interface VmInputHooks {
  dropped: (reason: DropReason) => void;
  applied: (event: AppliedEvent) => void;
  /** What became of a viewer's SetUIInfo hint (the service publishes it for signaling). */
  uiInfo: (vmId: string, consoleId: number, report: UiInfoReport) => void;
}

/**
 * One VM's input: its viewers (sequence, rate, idle time), and the events they send, applied to
 * the VM's consoles in order.
 */
export class VmInput {
  readonly link: VmLink;
  private readonly viewers = new Map<string, Viewer>();
  private readonly forgetMs: number;
  /** Console.SetUIInfo per console id, made on first use. */
  private readonly uiInfoSetters = new Map<number, UiInfoSetter>();

  constructor(
    route: VmRoute,
    private readonly config: InputConfig,
    private readonly metrics: InputMetrics,
    private readonly logger: Logger,
    private readonly hooks: VmInputHooks,
  ) {
    this.link = new VmLink(route, metrics, logger, config.INPUT_CALL_TIMEOUT_MS);
    this.forgetMs = Math.max(60_000, config.INPUT_IDLE_RELEASE_MS * 4);
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  get heldCount(): number {
    let n = 0;
    for (const c of this.link.consoles.values()) n += c.heldCount;
    return n;
  }

  start(): void {
    this.link.start();
  }

  handle(ev: ValidEvent, startMs: number): void {
    const now = performance.now();
    let viewer = this.viewers.get(ev.viewerId);
    if (!viewer) {
      if (this.viewers.size >= this.config.INPUT_MAX_VIEWERS && !this.evictIdleViewer(now)) {
        this.hooks.dropped('too_many_viewers');
        return;
      }
      viewer = new Viewer(
        ev.viewerId,
        now,
        { ratePerS: this.config.INPUT_RATE_PER_S, burst: this.config.INPUT_BURST },
        this.config.INPUT_WHEEL_STEP_PX,
      );
      this.viewers.set(ev.viewerId, viewer);
    }
    if (!viewer.advance(ev.sequence)) {
      this.hooks.dropped('stale_sequence');
      return;
    }
    viewer.lastSeenMs = now;
    const { action } = ev;
    if (action.kind === 'releaseAll') {
      this.finish(ev, startMs, this.release(viewer, 'release_all'));
      return;
    }
    const target = this.link.consoles.get(ev.consoleId);
    if (!target) {
      this.hooks.dropped(this.link.up ? 'unknown_console' : 'vm_unavailable');
      return;
    }
    // Pointer motion is coalesced on the console (one call in flight, latest wins): it costs QEMU
    // no queue, so it takes no tokens and is never dropped for backlog (a flood of moves must not
    // starve the next key, and relative motion must not be lost).
    const limited = !isRelease(action) && action.kind !== 'move' && action.kind !== 'relative';
    if (limited && !viewer.allow(now)) {
      this.hooks.dropped('rate_limited');
      return;
    }
    if (limited && this.link.calls.inFlight >= this.config.INPUT_MAX_IN_FLIGHT) {
      this.hooks.dropped('backlog');
      return;
    }
    viewer.consoles.add(ev.consoleId);
    let outcome: Outcome;
    switch (action.kind) {
      case 'uiInfo':
        this.uiInfoSetter(ev.consoleId).request({ viewerId: viewer.id, sequence: ev.sequence, ...action });
        outcome = { noop: true };
        break;
      case 'key':
        outcome = target.key(viewer.id, action.qnum, action.down);
        break;
      case 'button':
        outcome = target.button(viewer.id, action.button, action.down);
        break;
      case 'move':
        outcome = target.move(action.x, action.y);
        break;
      case 'relative':
        outcome = target.relative(action.dx, action.dy);
        break;
      case 'wheel':
        outcome = target.wheel(viewer.wheel(ev.consoleId).add(action.dx, action.dy));
        break;
      case 'touch':
        outcome = target.touch(viewer.id, action.slot, action.phase, action.x, action.y);
        break;
    }
    if ('dropped' in outcome) {
      this.hooks.dropped(outcome.dropped);
      return;
    }
    // Coalesced motion counts as applied once the call it was merged into returned.
    this.finish(
      ev,
      startMs,
      'sent' in outcome ? outcome.sent : 'coalesced' in outcome ? outcome.coalesced : undefined,
    );
  }

  private uiInfoSetter(consoleId: number): UiInfoSetter {
    let setter = this.uiInfoSetters.get(consoleId);
    if (!setter) {
      setter = new UiInfoSetter(
        {
          qemu: () => this.link.qemuConsole(consoleId),
          size: () => this.link.consoles.get(consoleId),
        },
        this.link.calls,
        this.metrics,
        (report) => this.hooks.uiInfo(this.link.id, consoleId, report),
      );
      this.uiInfoSetters.set(consoleId, setter);
    }
    return setter;
  }

  private finish(ev: ValidEvent, startMs: number, sent: Promise<void> | undefined): void {
    this.metrics.eventsApplied.inc({ kind: ev.action.kind });
    const done = (): void => {
      const doneMs = performance.now();
      if (ev.receivedUs > 0) {
        const seconds = (performance.timeOrigin + doneMs) / 1000 - ev.receivedUs / 1e6;
        if (seconds >= 0 && seconds < 3600) this.metrics.eventSeconds.observe(seconds);
      }
      this.hooks.applied({
        vmId: ev.vmId,
        viewerId: ev.viewerId,
        sequence: ev.sequence,
        kind: ev.action.kind,
        receivedUs: ev.receivedUs,
        startMs,
        doneMs,
      });
    };
    if (sent) void sent.then(done);
    else done();
  }

  /** Lets go of everything `viewer` holds on every console. */
  private release(viewer: Viewer, reason: ReleaseReason): Promise<void> {
    viewer.resetWheels();
    const sent: Promise<void>[] = [];
    for (const id of viewer.consoles) {
      const target = this.link.consoles.get(id);
      if (!target) continue;
      const r = target.releaseViewer(viewer.id);
      if (r.count > 0) {
        this.metrics.releases.inc({ reason }, r.count);
        this.logger.info(
          { viewer: viewer.id, console: id, released: r.count, reason },
          'released held input',
        );
      }
      sent.push(r.sent);
    }
    viewer.consoles.clear();
    return Promise.all(sent).then(() => undefined);
  }

  /** Forgets the longest-silent viewer that holds nothing and is idle; false when there is none. */
  private evictIdleViewer(nowMs: number): boolean {
    let oldest: Viewer | undefined;
    for (const v of this.viewers.values()) {
      if (nowMs - v.lastSeenMs < this.config.INPUT_IDLE_RELEASE_MS || this.holds(v)) continue;
      if (!oldest || v.lastSeenMs < oldest.lastSeenMs) oldest = v;
    }
    if (oldest) this.viewers.delete(oldest.id);
    return oldest !== undefined;
  }

  private holds(viewer: Viewer): boolean {
    for (const id of viewer.consoles) if (this.link.consoles.get(id)?.holds(viewer.id)) return true;
    return false;
  }

  /** Releases what silent viewers hold; forgets viewers silent for long. */
  sweep(nowMs: number): void {
    for (const viewer of [...this.viewers.values()]) {
      const idle = nowMs - viewer.lastSeenMs;
      if (idle >= this.config.INPUT_IDLE_RELEASE_MS && viewer.consoles.size > 0) {
        if (this.holds(viewer)) void this.release(viewer, 'idle');
        else viewer.consoles.clear();
      }
      if (idle >= this.forgetMs && viewer.consoles.size === 0) this.viewers.delete(viewer.id);
    }
  }

  /** Releases everything every viewer holds, then disconnects. */
  async stop(): Promise<void> {
    for (const setter of this.uiInfoSetters.values()) setter.close();
    await Promise.all([...this.viewers.values()].map((v) => this.release(v, 'stop')));
    await this.link.close();
  }
}

import type { RtcpFeedback } from './rtcp.js';

/** How a viewer's link carries its stream, judged from its receiver reports. */
export type LinkState = 'unknown' | 'good' | 'fair' | 'struggling';

export interface LinkThresholds {
  /** Smoothed fraction of packets lost at or above which the link is struggling (0..1). */
  strugglingLoss: number;
  /** Smoothed loss below which (with no burst of NACKs) the link is good. */
  goodLoss: number;
}

/** Reports older than this say nothing about the link now. */
const STALE_AFTER_MS = 5000;
/** Weight of the newest report in the smoothed loss. */
const ALPHA = 0.5;

/**
 * One viewer's link from RTCP receiver reports (fraction lost, RFC 3550) and NACKs. Loss is
 * smoothed so that one bad report does not move the viewer; the state is held with its start time
 * so that policies can ask "struggling for how long".
 */
export class LinkQuality {
  private loss = 0;
  private lastReportMs = -Infinity;
  private nacksSinceReport = 0;
  private current: LinkState = 'unknown';
  private sinceMs: number;

  constructor(
    private readonly thresholds: LinkThresholds,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.sinceMs = now();
  }

  /** Feeds one parsed RTCP packet from the viewer. */
  onFeedback(fb: RtcpFeedback): void {
    this.nacksSinceReport += fb.nack;
    if (fb.reports.length === 0) return;
    const worst = Math.max(...fb.reports.map((r) => r.fractionLost));
    this.loss = this.lastReportMs === -Infinity ? worst : ALPHA * worst + (1 - ALPHA) * this.loss;
    this.lastReportMs = this.now();
    // NACKs without loss in the report mean retransmissions arrived in time: a fair link, not good.
    const nackBurst = this.nacksSinceReport > 0;
    this.nacksSinceReport = 0;
    let next: LinkState;
    if (this.loss >= this.thresholds.strugglingLoss) next = 'struggling';
    else if (this.loss < this.thresholds.goodLoss && !nackBurst) next = 'good';
    else next = 'fair';
    this.set(next);
  }

  /** Forgets the history (after a move to another rendition, old reports describe the old load). */
  reset(): void {
    this.loss = 0;
    this.lastReportMs = -Infinity;
    this.nacksSinceReport = 0;
    this.set('unknown', true);
  }

  get state(): LinkState {
    this.expire();
    return this.current;
  }

  /** How long the link has been in its current state (ms). */
  get heldMs(): number {
    this.expire();
    return this.now() - this.sinceMs;
  }

  private expire(): void {
    if (this.current !== 'unknown' && this.now() - this.lastReportMs > STALE_AFTER_MS) this.set('unknown');
  }

  get smoothedLoss(): number {
    return this.loss;
  }

  private set(state: LinkState, force = false): void {
    if (state === this.current && !force) return;
    this.current = state;
    this.sinceMs = this.now();
  }
}

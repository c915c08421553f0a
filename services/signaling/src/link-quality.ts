import type { RtcpFeedback } from './rtcp.js';

/** How a viewer's link carries its stream, judged from its receiver reports. */
export type LinkState = 'unknown' | 'good' | 'fair' | 'struggling';

export interface LinkThresholds {
  /** Smoothed fraction of packets lost at or above which the link is struggling (0..1). */
  strugglingLoss: number;
  /** Smoothed loss below which (with few NACKs) the link is good. */
  goodLoss: number;
}

/** Loss is measured over windows at least this long (browsers send many small reports). */
const WINDOW_MS = 1000;
/** Reports older than this say nothing about the link now. */
const STALE_AFTER_MS = 5000;
/** Weight of the newest window in the smoothed loss. */
const ALPHA = 0.5;
/** More NACK packets than this in a window: retransmissions are busy, the link is fair at best. */
const NACKS_PER_WINDOW = 5;

interface WindowStart {
  atMs: number;
  cumulativeLost: number;
  highestSequence: number;
}

/**
 * One viewer's link from RTCP receiver reports (RFC 3550) and NACKs. A browser sends a report with
 * nearly every feedback packet, each covering a few packets, so the report's own "fraction lost"
 * swings between 0 and 1; we use the cumulative loss and the highest sequence number instead, over
 * windows of a second, smoothed across windows. The state is held with its start time so that
 * policies can ask "struggling for how long".
 */
export class LinkQuality {
  private loss = 0;
  private windows = 0;
  private window: WindowStart | undefined;
  private lastReportMs = -Infinity;
  private nacks = 0;
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
    this.nacks += fb.nack;
    const report = fb.reports[0]; // we send one SSRC per viewer
    if (!report) return;
    const now = this.now();
    this.lastReportMs = now;
    const start = this.window;
    if (!start || report.highestSequence < start.highestSequence) {
      this.startWindow(now, report); // first report, or the sender restarted
      return;
    }
    if (now - start.atMs < WINDOW_MS) return;
    const expected = report.highestSequence - start.highestSequence;
    if (expected <= 0) return; // nothing sent meanwhile: nothing learnt (keep the window open)
    // Cumulative loss may go down (duplicates count as received): clamp to 0..1.
    const fraction = Math.min(Math.max((report.cumulativeLost - start.cumulativeLost) / expected, 0), 1);
    this.loss = this.windows === 0 ? fraction : ALPHA * fraction + (1 - ALPHA) * this.loss;
    this.windows++;
    const busy = this.nacks > NACKS_PER_WINDOW;
    this.startWindow(now, report);
    if (this.loss >= this.thresholds.strugglingLoss) this.set('struggling');
    else if (this.loss < this.thresholds.goodLoss && !busy) this.set('good');
    else this.set('fair');
  }

  /** Forgets the history (after a move to another rendition, old reports describe the old load). */
  reset(): void {
    this.loss = 0;
    this.windows = 0;
    this.window = undefined;
    this.lastReportMs = -Infinity;
    this.nacks = 0;
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

  get smoothedLoss(): number {
    return this.loss;
  }

  private startWindow(now: number, report: RtcpFeedback['reports'][number]): void {
    this.window = {
      atMs: now,
      cumulativeLost: report.cumulativeLost,
      highestSequence: report.highestSequence,
    };
    this.nacks = 0;
  }

  private expire(): void {
    if (this.current !== 'unknown' && this.now() - this.lastReportMs > STALE_AFTER_MS) this.set('unknown');
  }

  private set(state: LinkState, force = false): void {
    if (state === this.current && !force) return;
    this.current = state;
    this.sinceMs = this.now();
  }
}

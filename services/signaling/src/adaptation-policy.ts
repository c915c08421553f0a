import type { LinkQuality } from './link-quality.js';
import type { RenditionLadder, RenditionSpec } from './rendition-ladder.js';

export interface AdaptationSettings {
  /** A link struggling this long moves its viewer down a rendition (or counts against the bitrate). */
  downAfterMs: number;
  /** A link good this long moves its viewer back up; doubled (up to 8x) after each failed try. */
  upAfterMs: number;
  /** The lowest bitrate asked of an encoder, as a fraction of the rendition's nominal bitrate. */
  bitrateFloor: number;
}

/** Each step down multiplies the bitrate by this; each step up by its inverse, capped at nominal. */
const BITRATE_STEP = 0.7;

/**
 * One viewer's choice of rendition: down the ladder while its link struggles, back up after it
 * has been good for a while. An up-move that makes the link struggle again soon is a failed probe:
 * the next one waits twice as long.
 */
export class RenditionChooser {
  private upAfterMs: number;
  private lastMoveMs = -Infinity;
  private lastMoveUp = false;

  constructor(
    private readonly settings: AdaptationSettings,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.upAfterMs = settings.upAfterMs;
  }

  /** The rendition to move to now, if any. */
  choose(link: LinkQuality, current: string, ladder: RenditionLadder): RenditionSpec | undefined {
    const now = this.now();
    if (now - this.lastMoveMs < this.settings.downAfterMs) return undefined;
    if (link.state === 'struggling' && link.heldMs >= this.settings.downAfterMs) {
      return ladder.neighbour(current, 1);
    }
    if (link.state === 'good' && link.heldMs >= this.upAfterMs) return ladder.neighbour(current, -1);
    return undefined;
  }

  /** The viewer moved (call after choose() was acted on). */
  moved(up: boolean): void {
    const now = this.now();
    if (!up && this.lastMoveUp && now - this.lastMoveMs < this.upAfterMs) {
      this.upAfterMs = Math.min(this.upAfterMs * 2, this.settings.upAfterMs * 8);
    }
    this.lastMoveMs = now;
    this.lastMoveUp = up;
  }

  /** Can this viewer still step down (a lower rendition exists)? */
  static canStepDown(current: string, ladder: RenditionLadder): boolean {
    return ladder.neighbour(current, 1) !== undefined;
  }
}

/** What one viewer of a stream says about its link, for the stream's bitrate. */
export interface MemberLink {
  link: LinkQuality;
  /** The viewer cannot help itself by moving down (pinned to a rendition, or on the lowest). */
  stuck: boolean;
}

/**
 * One stream's target bitrate: lowered step by step while every viewer of it struggles with no
 * lower rendition to move to, raised back toward nominal once they are all good.
 */
export class StreamBitrate {
  private target: number;
  private lastChangeMs = -Infinity;

  constructor(
    readonly nominal: number,
    private readonly settings: AdaptationSettings,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.target = nominal;
  }

  get targetBps(): number {
    return this.target;
  }

  /** The new target when it should change now, else undefined. */
  decide(members: readonly MemberLink[]): number | undefined {
    if (members.length === 0) return undefined;
    const now = this.now();
    const { downAfterMs, upAfterMs, bitrateFloor } = this.settings;
    const allStruggling = members.every(
      (m) => m.stuck && m.link.state === 'struggling' && m.link.heldMs >= downAfterMs,
    );
    const allGood = members.every((m) => m.link.state === 'good' && m.link.heldMs >= upAfterMs);
    let next = this.target;
    if (allStruggling && now - this.lastChangeMs >= downAfterMs) {
      next = Math.max(Math.round(this.target * BITRATE_STEP), Math.round(this.nominal * bitrateFloor));
    } else if (allGood && now - this.lastChangeMs >= upAfterMs) {
      next = Math.min(Math.round(this.target / BITRATE_STEP), this.nominal);
    }
    if (next === this.target) return undefined;
    this.target = next;
    this.lastChangeMs = now;
    return next;
  }
}

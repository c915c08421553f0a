import { TokenBucket } from './token-bucket.js';
import { WheelAccumulator } from './wheel.js';

/** What the input service remembers of one viewer of one VM. */
export class Viewer {
  /** Highest sequence applied; events at or below it are stale. */
  lastSequence = -1;
  lastSeenMs: number;
  /** Consoles this viewer sent events to (where it may hold something). */
  readonly consoles = new Set<number>();
  private readonly wheels = new Map<number, WheelAccumulator>();
  private readonly bucket: TokenBucket;

  constructor(
    readonly id: string,
    nowMs: number,
    rate: { ratePerS: number; burst: number },
    private readonly wheelStepPx: number,
  ) {
    this.lastSeenMs = nowMs;
    this.bucket = new TokenBucket(rate.ratePerS, rate.burst, nowMs);
  }

  /** Accepts `sequence` if it is newer than the last one applied. */
  advance(sequence: number): boolean {
    if (sequence <= this.lastSequence) return false;
    this.lastSequence = sequence;
    return true;
  }

  allow(nowMs: number): boolean {
    return this.bucket.take(nowMs);
  }

  wheel(consoleId: number): WheelAccumulator {
    let w = this.wheels.get(consoleId);
    if (!w) this.wheels.set(consoleId, (w = new WheelAccumulator(this.wheelStepPx)));
    return w;
  }

  resetWheels(): void {
    for (const w of this.wheels.values()) w.reset();
  }
}

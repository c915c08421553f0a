export interface RestartBackoffOptions {
  firstMs: number;
  maxMs: number;
  /** A child that ran this long before dying starts over at the first step. */
  resetAfterMs: number;
}

/** The delay before each restart of a child that keeps dying: doubling from firstMs up to maxMs. */
export class RestartBackoff {
  private failures = 0;

  constructor(private readonly opts: RestartBackoffOptions) {}

  /** The delay before the next start, for a child that ran `ranMs` before it died. */
  next(ranMs: number): number {
    if (ranMs >= this.opts.resetAfterMs) this.failures = 0;
    const delay = Math.min(this.opts.maxMs, this.opts.firstMs * 2 ** this.failures);
    this.failures++;
    return delay;
  }
}

import type { Logger } from './logger.js';

export interface BadInputLogOptions {
  /** Warnings of one kind logged in full per interval; the rest are only counted. */
  burst?: number;
  /** The interval after which suppressed warnings are summed up in one line. */
  intervalMs?: number;
}

interface Kind {
  logged: number;
  suppressed: number;
}

/** The message of an error, never its stack: a peer's garbage must not cost a stack trace a message. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Warnings about bad input from peers (undecodable or forged messages, out-of-range values),
 * rate-limited per kind: the first `burst` of an interval are logged, the rest are counted and
 * summed up in one line per interval. A flood of garbage costs a few lines, not one per message;
 * metrics carry the full counts.
 */
export class BadInputLog {
  private readonly kinds = new Map<string, Kind>();
  private readonly burst: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    opts: BadInputLogOptions = {},
  ) {
    this.burst = opts.burst ?? 5;
    this.timer = setInterval(() => this.flush(), opts.intervalMs ?? 10_000);
    this.timer.unref();
  }

  /** Logs (or counts) one bad input of `kind`; an `err` field is reduced to its message. */
  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    let k = this.kinds.get(kind);
    if (!k) {
      k = { logged: 0, suppressed: 0 };
      this.kinds.set(kind, k);
    }
    if (k.logged >= this.burst) {
      k.suppressed++;
      return;
    }
    k.logged++;
    const { err, ...rest } = fields;
    this.logger.warn({ kind, ...rest, ...(err !== undefined ? { error: errorText(err) } : {}) }, message);
  }

  /** Sums up what was suppressed since the last interval and starts a new one. */
  flush(): void {
    for (const [kind, k] of this.kinds) {
      if (k.suppressed > 0) {
        this.logger.warn(
          { kind, suppressed: k.suppressed },
          'more bad input of this kind was dropped (not logged)',
        );
      }
    }
    this.kinds.clear();
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

import type { InputMetrics } from './metrics.js';

export type CallResult = { ok: true } | { ok: false; error: Error; timedOut: boolean };

/**
 * Runs D-Bus calls to one VM's QEMU: counts and times them, gives up on a reply after `timeoutMs`,
 * and knows how many are in flight. Calls are not awaited one by one: D-Bus keeps the order of
 * messages on a connection and QEMU handles them in order, so they are pipelined.
 *
 * A call the caller gave up on (timed out) still counts as in flight until QEMU answers it or the
 * link it went out on drops (`linkDropped()`): a QEMU that stopped answering must not be handed an
 * unbounded number of calls just because each of them timed out.
 */
export class CallRunner {
  /** Calls sent on the current link and not yet answered (including timed-out ones). */
  private pending = new Set<symbol>();

  constructor(
    private readonly metrics: InputMetrics,
    private readonly timeoutMs: number,
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  /** The link the calls went out on is gone: no answer will come, stop counting them. */
  linkDropped(): void {
    this.pending = new Set();
  }

  run(method: string, call: () => Promise<void>): Promise<CallResult> {
    const started = performance.now();
    const token = Symbol(method);
    const pending = this.pending;
    pending.add(token);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CallResult>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            ok: false,
            error: new Error(`${method}: no reply in ${this.timeoutMs} ms`),
            timedOut: true,
          }),
        this.timeoutMs,
      );
    });
    const done = call().then(
      (): CallResult => ({ ok: true }),
      (error: unknown): CallResult => ({
        ok: false,
        error: error instanceof Error ? error : new Error(String(error)),
        timedOut: false,
      }),
    );
    // Counted until QEMU answers, even after the caller stopped waiting.
    void done.then(() => pending.delete(token));
    return Promise.race([done, timeout]).then((result) => {
      clearTimeout(timer);
      const outcome = result.ok ? 'ok' : result.timedOut ? 'timeout' : 'error';
      this.metrics.dbusCalls.inc({ method, result: outcome });
      this.metrics.dbusCallSeconds.observe({ method }, (performance.now() - started) / 1000);
      return result;
    });
  }
}

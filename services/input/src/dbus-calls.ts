import type { InputMetrics } from './metrics.js';

export type CallResult = { ok: true } | { ok: false; error: Error; timedOut: boolean };

/**
 * Runs D-Bus calls to one VM's QEMU: counts and times them, gives up on a reply after `timeoutMs`,
 * and knows how many are in flight. Calls are not awaited one by one: D-Bus keeps the order of
 * messages on a connection and QEMU handles them in order, so they are pipelined.
 */
export class CallRunner {
  private pending = 0;

  constructor(
    private readonly metrics: InputMetrics,
    private readonly timeoutMs: number,
  ) {}

  get inFlight(): number {
    return this.pending;
  }

  run(method: string, call: () => Promise<void>): Promise<CallResult> {
    const started = performance.now();
    this.pending++;
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
    return Promise.race([done, timeout]).then((result) => {
      clearTimeout(timer);
      this.pending--;
      const outcome = result.ok ? 'ok' : result.timedOut ? 'timeout' : 'error';
      this.metrics.dbusCalls.inc({ method, result: outcome });
      this.metrics.dbusCallSeconds.observe({ method }, (performance.now() - started) / 1000);
      return result;
    });
  }
}

// A supervised child of the start command: started at once, restarted with backoff whenever it
// dies unasked (like a compose restart policy), each output line prefixed with its name. Before the
// system is ready a death is not retried: the start command stops and says which child failed.
import { ManagedProcess, type ProcessExit } from './managed-process.js';
import { RestartBackoff } from './restart-backoff.js';

const BACKOFF = { firstMs: 500, maxMs: 15_000, resetAfterMs: 30_000 };
const STOP_GRACE_MS = 5000;

/** The machine-readable events the children report (the start command prints them). */
export type SupervisorEvent =
  | { event: 'started'; name: string; pid: number }
  | { event: 'exited'; name: string; pid: number | null; code: number | null; signal: NodeJS.Signals | null };

/**
 * What the children share with the start command: `emit(event)` reports each start and exit,
 * `stopping` is set once everything is being stopped, `onEarlyExit(child, code, signal)` is called
 * instead of a restart while `ready` is false.
 */
export class SupervisorContext {
  stopping = false;
  ready = false;
  constructor(
    readonly emit: (event: SupervisorEvent) => void,
    readonly onEarlyExit: (child: Supervised, code: number | null, signal: NodeJS.Signals | null) => void,
  ) {}
}

export class Supervised {
  /** The current incarnation. */
  child: ManagedProcess;
  restarts = 0;
  startedAt = 0;
  /** Called after each restart (not the first start). */
  readonly restartHooks: (() => void)[] = [];
  /** The child's last output line naming an error (else its last line), for when it fails to start. */
  lastLine = '';
  private readonly backoff = new RestartBackoff(BACKOFF);
  private retryTimer: NodeJS.Timeout | undefined;
  /** Set by restart(): the next exit is ours, start again at once. */
  private planned = false;
  private readonly outputListeners = new Set<(text: string) => void>();

  constructor(
    private readonly ctx: SupervisorContext,
    readonly name: string,
    private readonly command: string,
    private readonly args: readonly string[],
    /** Added to our environment. */
    private readonly env: Record<string, string> = {},
    private readonly stopSignal: NodeJS.Signals = 'SIGTERM',
  ) {
    this.child = this.spawn();
  }

  private get prefix(): string {
    return `[${this.name}] `;
  }

  private spawn(): ManagedProcess {
    // A TERM from the kernel if we die (even by SIGKILL), so the child may clean up; its own
    // process group: a terminal's Ctrl-C reaches only us, and we stop the children in order.
    const child = new ManagedProcess(this.name, this.command, this.args, {
      env: { ...process.env, ...this.env },
      deathSignal: 'TERM',
      ownProcessGroup: true,
      stopSignal: this.stopSignal,
      echoPrefix: this.prefix,
    });
    this.child = child;
    this.startedAt = Date.now();
    child.onLine((line) => {
      if (line.trim() === '') return;
      if (/error/i.test(line) || !/error/i.test(this.lastLine)) this.lastLine = line;
    });
    child.onOutput((text) => {
      for (const l of this.outputListeners) l(text);
    });
    void child.exited.then((exit) => {
      this.onExit(child, exit);
    });
    if (child.pid !== undefined) this.ctx.emit({ event: 'started', name: this.name, pid: child.pid });
    if (this.restarts > 0) for (const hook of this.restartHooks) hook();
    return child;
  }

  private onExit(child: ManagedProcess, { code, signal }: ProcessExit): void {
    this.ctx.emit({ event: 'exited', name: this.name, pid: child.pid ?? null, code, signal });
    if (this.ctx.stopping || child !== this.child) return;
    if (this.planned) {
      this.planned = false;
      this.restarts++;
      this.spawn();
      return;
    }
    if (!this.ctx.ready) {
      this.ctx.onEarlyExit(this, code, signal);
      return;
    }
    const ranMs = Date.now() - this.startedAt;
    const delay = this.backoff.next(ranMs);
    this.restarts++;
    console.error(
      `${this.prefix}exited (${signal ?? `code ${code}`}) after ${(ranMs / 1000).toFixed(1)} s; ` +
        `restarting in ${delay} ms (restart ${this.restarts})`,
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.ctx.stopping) this.spawn();
    }, delay);
  }

  /** Stops the child and starts it again at once (a peer it depends on was restarted). */
  restart(): void {
    if (!this.running || this.planned) return;
    console.error(`${this.prefix}restarting`);
    this.planned = true;
    void this.child.stop(STOP_GRACE_MS);
  }

  get running(): boolean {
    return this.child.running;
  }

  /** The current incarnation's pid. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves with the match once this child prints `pattern` from now on (any incarnation). */
  waitForOutput(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let seen = '';
      const listener = (text: string): void => {
        seen = (seen + text).slice(-64 * 1024);
        const m = seen.match(pattern);
        if (m) done(undefined, m);
      };
      const timer = setTimeout(() => {
        done(new Error(`${this.name}: timed out waiting for ${pattern}`));
      }, timeoutMs);
      const done = (error: Error | undefined, m?: RegExpMatchArray): void => {
        clearTimeout(timer);
        this.outputListeners.delete(listener);
        if (error) reject(error);
        else if (m) resolve(m);
      };
      this.outputListeners.add(listener);
    });
  }

  /** Stops the child (stop signal, SIGKILL after 5 s) and any restart still waiting. */
  async stop(): Promise<void> {
    clearTimeout(this.retryTimer);
    await this.child.stop(STOP_GRACE_MS);
  }
}

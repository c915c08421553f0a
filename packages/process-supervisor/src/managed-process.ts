import { spawn, type ChildProcess } from 'node:child_process';
import { LineBuffer, prefixLines } from './line-buffer.js';

export interface RunAs {
  uid: number;
  gid: number;
}

export interface ManagedProcessOptions {
  /** The child's whole environment (default: ours). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kept in memory: the last bytes of stdout+stderr, for error messages. */
  logLimit?: number;
  /** Run as this user and group (needs root): setpriv drops to them, with no supplementary groups. */
  runAs?: RunAs;
  /** What the kernel sends the child when we die: KILL (default), or TERM to let it clean up. */
  deathSignal?: 'KILL' | 'TERM';
  /** Its own process group: a terminal's Ctrl-C reaches only us, and we stop the child ourselves. */
  ownProcessGroup?: boolean;
  /** The signal stop() sends before SIGKILL (default SIGTERM; nats-server wants SIGINT). */
  stopSignal?: NodeJS.Signals;
  /** Copy each whole output line to our stdout/stderr with this in front (e.g. `[encoder] `). */
  echoPrefix?: string;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One child process that never outlives us: started under `setpriv --pdeathsig` (the kernel
 * signals it if we die, even by SIGKILL), its output kept (the last logLimit bytes) and
 * optionally echoed line by line with a prefix, stopped by stop() or kill().
 */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ProcessExit>;
  private log = '';
  private readonly logLimit: number;
  private readonly stopSignal: NodeJS.Signals;
  private readonly waiters = new Set<() => void>();
  private readonly outputListeners = new Set<(text: string) => void>();
  private readonly lineListeners = new Set<(line: string) => void>();

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    opts: ManagedProcessOptions = {},
  ) {
    this.logLimit = opts.logLimit ?? 64 * 1024;
    this.stopSignal = opts.stopSignal ?? 'SIGTERM';
    const user = opts.runAs
      ? [`--reuid=${opts.runAs.uid}`, `--regid=${opts.runAs.gid}`, '--clear-groups']
      : [];
    const deathSignal = opts.deathSignal ?? 'KILL';
    this.child = spawn('setpriv', ['--pdeathsig', deathSignal, ...user, '--', command, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: opts.ownProcessGroup ?? false,
    });
    const prefix = opts.echoPrefix;
    const onData = (echo: NodeJS.WritableStream | undefined): ((chunk: Buffer) => void) => {
      const lines = new LineBuffer();
      return (chunk) => {
        const text = chunk.toString('utf8');
        this.log = (this.log + text).slice(-this.logLimit);
        const whole = lines.push(text);
        if (echo && prefix !== undefined && whole.length > 0) echo.write(prefixLines(whole, prefix));
        for (const line of whole) for (const l of this.lineListeners) l(line);
        for (const l of this.outputListeners) l(text);
        for (const w of this.waiters) w();
      };
    };
    this.child.stdout?.on('data', onData(process.stdout));
    this.child.stderr?.on('data', onData(process.stderr));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        for (const w of this.waiters) w();
        resolve({ code, signal });
      });
      this.child.once('error', (err) => {
        this.log += `\nspawn error: ${err.message}`;
        if (prefix !== undefined) console.error(`${prefix}could not start: ${err.message}`);
      });
    });
  }

  get output(): string {
    return this.log;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Calls `listener` with each chunk of output (stdout and stderr) from now on; returns the unsubscribe. */
  onOutput(listener: (text: string) => void): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /** Calls `listener` with each whole line of output (stdout and stderr) from now on. */
  onLine(listener: (line: string) => void): void {
    this.lineListeners.add(listener);
  }

  /** Waits until the output matches `pattern`; throws with the output so far on timeout or exit. */
  async waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.log.match(pattern);
      if (m) return m;
      if (!this.running) throw new Error(`${this.name} exited before printing ${pattern}:\n${this.log}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${this.name} did not print ${pattern} in ${timeoutMs} ms:\n${this.log}`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 250));
        this.waiters.add(done);
      });
    }
  }

  /** Sends a signal without waiting (e.g. SIGSTOP/SIGCONT to stall a peer). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /**
   * The stop signal (after SIGCONT, so a stalled child can act on it), then SIGKILL after
   * `graceMs`; resolves once the process is gone. Safe twice.
   */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGCONT');
    this.child.kill(this.stopSignal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL, no grace: a crash as the peer would see it. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

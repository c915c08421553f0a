import { spawn, type ChildProcess } from 'node:child_process';

/** Every child still running, killed when this process exits for any reason. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const child of running) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

export interface ManagedProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kept in memory: the last bytes of stdout+stderr, for error messages. */
  logLimit?: number;
  /** Run as this user and group (needs root): setpriv drops to them, with no supplementary groups. */
  runAs?: RunAs;
}

export interface RunAs {
  uid: number;
  gid: number;
}

/**
 * A child process that never outlives the test: started under `setpriv --pdeathsig KILL` (the
 * kernel kills it if we die, even by SIGKILL), tracked for exit hooks, stopped by stop().
 */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private log = '';
  private readonly logLimit: number;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    opts: ManagedProcessOptions = {},
  ) {
    installExitHook();
    this.logLimit = opts.logLimit ?? 64 * 1024;
    const user = opts.runAs
      ? [`--reuid=${opts.runAs.uid}`, `--regid=${opts.runAs.gid}`, '--clear-groups']
      : [];
    this.child = spawn('setpriv', ['--pdeathsig', 'KILL', ...user, '--', command, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this.child);
    const onData = (chunk: Buffer): void => {
      this.log = (this.log + chunk.toString('utf8')).slice(-this.logLimit);
      for (const w of this.waiters) w();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        running.delete(this.child);
        for (const w of this.waiters) w();
        resolve({ code, signal });
      });
      this.child.once('error', (err) => {
        this.log += `\nspawn error: ${err.message}`;
      });
    });
  }

  get output(): string {
    return this.log;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
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

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Safe twice. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
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

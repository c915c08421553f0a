// One supervised child of the start command: started at once, restarted with backoff whenever it
// dies unasked (like a compose restart policy), each output line prefixed with its name. Before the
// system is ready a death is not retried: the start command stops and says which child failed.
import { spawn } from 'node:child_process';

const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 15_000;
/** A child that ran this long before dying starts over at the first backoff step. */
const RESTART_RESET_AFTER_MS = 30_000;
const STOP_GRACE_MS = 5000;

/**
 * What the children share with the start command: `emit(event)` prints a machine-readable line,
 * `stopping` is set once everything is being stopped, `onEarlyExit(child, code, signal)` is called
 * instead of a restart while `ready` is false.
 */
export class SupervisorContext {
  stopping = false;
  ready = false;
  constructor(emit, onEarlyExit) {
    this.emit = emit;
    this.onEarlyExit = onEarlyExit;
  }
}

export class Supervised {
  child = undefined;
  restarts = 0;
  failures = 0;
  startedAt = 0;
  retryTimer = undefined;
  listeners = [];
  /** Called after each restart (not the first start). */
  restartHooks = [];
  /** Set by restart(): the next exit is ours, start again at once. */
  planned = false;
  /** The child's last output line naming an error (else its last line), for when it fails to start. */
  lastLine = '';

  constructor(ctx, name, command, args, env, stopSignal = 'SIGTERM') {
    this.ctx = ctx;
    this.name = name;
    this.stopSignal = stopSignal;
    this.command = command;
    this.args = args;
    this.env = env;
    this.prefix = `[${name}] `;
    this.spawn();
  }

  spawn() {
    // setpriv: the kernel stops the child if we die, even by SIGKILL. Its own process group: a
    // terminal's Ctrl-C reaches only us, and we stop the children in order.
    const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', this.command, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, ...this.env },
    });
    this.child = child;
    this.startedAt = Date.now();
    // Whole lines only, each with the child's name in front.
    const forward = (stream) => {
      let partial = '';
      return (chunk) => {
        const text = partial + chunk.toString();
        const end = text.lastIndexOf('\n') + 1;
        partial = text.slice(end);
        if (partial.length > 64 * 1024) {
          stream.write(`${this.prefix}${partial}\n`);
          partial = '';
        }
        if (end > 0) {
          stream.write(text.slice(0, end).replace(/^(?=.)/gm, this.prefix));
          const lines = text
            .slice(0, end)
            .split('\n')
            .filter((l) => l.trim() !== '');
          const error = lines.findLast((l) => /error/i.test(l));
          if (error !== undefined || !/error/i.test(this.lastLine))
            this.lastLine = error ?? lines.at(-1) ?? '';
        }
        for (const l of this.listeners) l(chunk.toString());
      };
    };
    child.stdout.on('data', forward(process.stdout));
    child.stderr.on('data', forward(process.stderr));
    child.on('error', (error) => console.error(`${this.prefix}could not start: ${error.message}`));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    if (child.pid !== undefined) this.ctx.emit({ event: 'started', name: this.name, pid: child.pid });
    if (this.restarts > 0) for (const hook of this.restartHooks) hook();
  }

  onExit(child, code, signal) {
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
    if (ranMs >= RESTART_RESET_AFTER_MS) this.failures = 0;
    const delay = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** this.failures);
    this.failures++;
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
  restart() {
    if (!this.running || this.planned) return;
    console.error(`${this.prefix}restarting`);
    this.planned = true;
    const child = this.child;
    child.kill(this.stopSignal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => clearTimeout(timer));
  }

  get running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the match once this child prints `pattern` (any incarnation). */
  waitForOutput(pattern, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      let seen = '';
      const listener = (text) => {
        seen = (seen + text).slice(-64 * 1024);
        const m = seen.match(pattern);
        if (m) done(undefined, m);
      };
      const timer = setTimeout(
        () => done(new Error(`${this.name}: timed out waiting for ${pattern}`)),
        timeoutMs,
      );
      const done = (error, m) => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
        if (error) reject(error);
        else resolve(m);
      };
      this.listeners.push(listener);
    });
  }

  async stop() {
    clearTimeout(this.retryTimer);
    const child = this.child;
    if (!this.running || !child) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill(this.stopSignal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  }
}

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from '@qemu-webrtc/test-kit';

/** The start command's script (README: `bash scripts/start.sh` runs setup, then this). */
export const startScriptPath = fileURLToPath(new URL('../../../scripts/start.mjs', import.meta.url));

/** What start.mjs prints on its `@qemu-webrtc {"event":"ready",...}` line. */
export interface SystemReady {
  /**
   * The start page's URL, without a token: a generated one is only on the "Open …#token=…" line
   * for people (tests choose their own with SIGNALING_TOKENS).
   */
  url: string;
  /** start.mjs generated a control token (SIGNALING_TOKENS was not set). */
  tokenGenerated: boolean;
  vmId: string;
  busAddress: string;
  natsUrl: string;
  /** The directory of this run's frame rings (shared memory between capture and encoders). */
  ringDir: string;
  /**
   * A file (0600) holding a NATS credential that may publish and subscribe to anything, when the
   * system was started with QEMU_WEBRTC_NATS_TEST_USER=1 (StartedSystem.start sets it); else null.
   * The services have a user each with only their own subjects; nobody else gets in.
   */
  natsTestCredential: string | null;
  /** Each service's /metrics and detailed /health (signaling's public port has neither). */
  metricsPorts: { capture: number; encoder: number; signaling: number; input: number };
  maxFps: number;
  demo: { width: number; height: number; video: string } | null;
  pids: Record<string, number | null>;
}

export type SystemEvent =
  | ({ event: 'ready' } & SystemReady)
  | { event: 'started'; name: string; pid: number }
  | { event: 'exited'; name: string; pid: number | null; code: number | null; signal: string | null }
  | { event: 'stopped' };

/** The start command's options that draw every port it listens on (HTTP, NATS, metrics) free. */
export const FREE_PORT_ARGS = ['--port', '0', '--nats-port', '0', '--metrics-port', '0'] as const;

const EVENT_LINE = /^@qemu-webrtc (\{.*\})$/;

/**
 * The whole system as a user starts it: `node scripts/start.mjs ARGS` in a ManagedProcess, with its
 * machine-readable event lines collected (which child runs under which pid, restarts, the URL).
 */
export class StartedSystem {
  readonly events: SystemEvent[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(readonly process: ManagedProcess) {
    let partial = '';
    process.child.stdout?.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = EVENT_LINE.exec(line);
        if (m?.[1] !== undefined) this.events.push(JSON.parse(m[1]) as SystemEvent);
      }
      for (const w of this.waiters) w();
    });
    void process.exited.then(() => {
      for (const w of this.waiters) w();
    });
  }

  /** Starts the system and waits for its ready line (a QEMU boot and four services: generous). */
  static start(
    args: readonly string[],
    opts: {
      env?: NodeJS.ProcessEnv;
      timeoutMs?: number;
      /** Every chunk start.mjs prints (stdout and stderr: its own and every child's), from the first. */
      onOutput?: (chunk: string) => void;
    } = {},
  ): Promise<StartedSystem> {
    return StartedSystem.launch(process.execPath, [startScriptPath, ...args], {
      env: {
        ...process.env,
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
        // Tests talk to the system's NATS (forgeries, probes) as a user of their own.
        QEMU_WEBRTC_NATS_TEST_USER: '1',
        ...opts.env,
      },
      timeoutMs: opts.timeoutMs,
      onOutput: opts.onOutput,
    });
  }

  /**
   * The start command on a VM the test runs itself (`--vm BUS --vm-id ID`, every port drawn free),
   * with viewer tokens (token -> role) as SIGNALING_TOKENS; stopped through `after` (a test's t.after).
   */
  static async onVm(
    after: (fn: () => Promise<void>) => void,
    busAddress: string,
    vmId: string,
    tokens: Record<string, 'control' | 'view'>,
    opts: { env?: NodeJS.ProcessEnv; onOutput?: (chunk: string) => void } = {},
  ): Promise<StartedSystem> {
    const signalingTokens = Object.entries(tokens)
      .map(([token, role]) => `${token}:${role}`)
      .join(',');
    const system = await StartedSystem.start(['--vm', busAddress, '--vm-id', vmId, ...FREE_PORT_ARGS], {
      ...opts,
      env: { SIGNALING_TOKENS: signalingTokens, ...opts.env },
    });
    after(() => system.stop());
    return system;
  }

  /**
   * The start command run some other way (`bash scripts/start.sh` through `docker exec` in the
   * fresh-machine stage): any command whose stdout carries start.mjs' event lines.
   */
  static async launch(
    command: string,
    args: readonly string[],
    opts: {
      env?: NodeJS.ProcessEnv;
      timeoutMs?: number | undefined;
      onOutput?: ((chunk: string) => void) | undefined;
    } = {},
  ): Promise<StartedSystem> {
    const proc = new ManagedProcess('start command', command, args, {
      env: opts.env ?? process.env,
      logLimit: 256 * 1024,
    });
    const onOutput = opts.onOutput;
    if (onOutput) {
      proc.child.stdout?.on('data', (chunk: Buffer) => onOutput(chunk.toString('utf8')));
      proc.child.stderr?.on('data', (chunk: Buffer) => onOutput(chunk.toString('utf8')));
    }
    const system = new StartedSystem(proc);
    try {
      await system.waitForEvent('the ready line', (e) => e.event === 'ready', opts.timeoutMs ?? 60_000);
    } catch (error) {
      await proc.stop(15_000);
      throw error;
    }
    return system;
  }

  get ready(): SystemReady {
    const e = this.events.find((x) => x.event === 'ready');
    if (!e) throw new Error('start.mjs is not ready yet');
    return e;
  }

  /** Options for nats.js connect() as the test user (see SystemReady.natsTestCredential). */
  natsOptions(): { servers: string; user: string; pass: string } {
    const file = this.ready.natsTestCredential;
    if (file === null) throw new Error('started without QEMU_WEBRTC_NATS_TEST_USER=1: no test credential');
    const { user, pass } = JSON.parse(readFileSync(file, 'utf8')) as { user: string; pass: string };
    return { servers: this.ready.natsUrl, user, pass };
  }

  /** The URLs printed for the person at the terminal (`Open http://…/#token=…`), in order. */
  get printedUrls(): string[] {
    return [...this.process.output.matchAll(/^ *Open (\S+)$/gm)].map((m) => m[1] ?? '');
  }

  /** http://host:port of the browser client. */
  get baseUrl(): string {
    return new URL(this.ready.url).origin;
  }

  /** The pid a child (nats, dbus, demo-vm, capture, encoder, input, signaling) runs under now. */
  pidOf(name: string): number | undefined {
    let pid: number | undefined;
    for (const e of this.events) {
      if (e.event === 'started' && e.name === name) pid = e.pid;
      if (e.event === 'exited' && e.name === name && e.pid === pid) pid = undefined;
    }
    return pid;
  }

  /** Waits for an event matching `match` (already seen ones count). */
  async waitForEvent<E extends SystemEvent>(
    what: string,
    match: (e: SystemEvent) => e is E,
    timeoutMs?: number,
  ): Promise<E>;
  async waitForEvent(
    what: string,
    match: (e: SystemEvent) => boolean,
    timeoutMs?: number,
  ): Promise<SystemEvent>;
  async waitForEvent(
    what: string,
    match: (e: SystemEvent) => boolean,
    timeoutMs = 30_000,
  ): Promise<SystemEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (!this.process.running) throw new Error(`start.mjs exited before ${what}:\n${this.process.output}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} from start.mjs in ${timeoutMs} ms:\n${this.process.output}`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 500));
        this.waiters.add(done);
      });
    }
  }

  /** Stops it as Ctrl-C would (SIGINT); resolves with its exit. */
  async interrupt(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.process.signal('SIGINT');
    const timer = setTimeout(() => this.process.signal('SIGKILL'), timeoutMs);
    const exit = await this.process.exited;
    clearTimeout(timer);
    return exit;
  }

  async stop(): Promise<void> {
    await this.process.stop(20_000);
  }
}

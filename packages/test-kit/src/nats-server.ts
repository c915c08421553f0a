import { writeFileSync } from 'node:fs';
import { ManagedProcess } from './managed-process.js';
import type { TempDir } from './temp-dir.js';

/** A real nats-server on a random loopback port. */
export class NatsServer {
  private constructor(
    readonly process: ManagedProcess,
    readonly url: string,
  ) {}

  static async start(dir: TempDir, opts: { maxPayload?: string } = {}): Promise<NatsServer> {
    const conf = dir.join('nats.conf');
    writeFileSync(conf, `listen: 127.0.0.1:-1\nmax_payload: ${opts.maxPayload ?? '8MB'}\n`);
    const proc = new ManagedProcess('nats-server', 'nats-server', ['-c', conf]);
    const m = await proc.waitForOutput(/Listening for client connections on [^\s]*:(\d+)/);
    return new NatsServer(proc, `nats://127.0.0.1:${m[1] ?? ''}`);
  }

  /** Freezes the server (SIGSTOP): clients see a stalled peer, not a closed socket. */
  stall(): void {
    this.process.signal('SIGSTOP');
  }
  resume(): void {
    this.process.signal('SIGCONT');
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

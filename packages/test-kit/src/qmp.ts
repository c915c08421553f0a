import { createConnection, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { parsePpm, type GuestScreenImage } from './guest-screen.js';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** A minimal QMP client: the ground truth for tests (screendump, send-key, query-*). */
export class QmpClient {
  private buffer = '';
  private readonly pending: Pending[] = [];
  readonly events: { event: string; data?: unknown }[] = [];

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => {
      for (const p of this.pending.splice(0)) p.reject(new Error('QMP connection closed'));
    });
    socket.on('error', () => undefined);
  }

  static async connect(path: string, timeoutMs = 15_000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const client = new QmpClient(socket);
        // The greeting comes first, then capabilities negotiation.
        await new Promise<void>((resolve) =>
          client.pending.push({ resolve: () => resolve(), reject: () => resolve() }),
        );
        await client.execute('qmp_capabilities');
        return client;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line === '') continue;
      const msg = JSON.parse(line) as {
        QMP?: unknown;
        return?: unknown;
        error?: { desc: string };
        event?: string;
        data?: unknown;
      };
      if (msg.event !== undefined) {
        this.events.push({ event: msg.event, data: msg.data });
        continue;
      }
      const p = this.pending.shift();
      if (!p) continue;
      if (msg.error) p.reject(new Error(`QMP error: ${msg.error.desc}`));
      else p.resolve(msg.QMP ?? msg.return);
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
    });
  }

  /**
   * The guest's screen as QEMU sees it (PPM through a file in `path`); `device` and `head` choose
   * another display than the first (QEMU takes `head` only with `device`).
   */
  async screendump(path: string, at: { device?: string; head?: number } = {}): Promise<GuestScreenImage> {
    await this.execute('screendump', { filename: path, ...at });
    return parsePpm(await readFile(path));
  }

  /** Presses and releases keys by QEMU qcode (e.g. "a", "shift", "ctrl_r"). */
  async sendKey(qcodes: string[], holdTimeMs?: number): Promise<void> {
    await this.execute('send-key', {
      keys: qcodes.map((data) => ({ type: 'qcode', data })),
      ...(holdTimeMs !== undefined ? { 'hold-time': holdTimeMs } : {}),
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

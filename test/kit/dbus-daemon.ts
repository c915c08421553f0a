import { ManagedProcess } from './managed-process.js';
import type { TempDir } from './temp-dir.js';

/** A private D-Bus session bus on a socket in the test's temp dir. */
export class DbusDaemon {
  private constructor(
    readonly process: ManagedProcess,
    readonly address: string,
  ) {}

  static async start(dir: TempDir): Promise<DbusDaemon> {
    const socket = dir.join('bus.sock');
    const proc = new ManagedProcess('dbus-daemon', 'dbus-daemon', [
      '--session',
      '--nofork',
      '--nopidfile',
      '--print-address=1',
      `--address=unix:path=${socket}`,
    ]);
    const m = await proc.waitForOutput(/^(unix:path=[^\n]+)$/m);
    return new DbusDaemon(proc, (m[1] ?? '').trim());
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

import { chownSync } from 'node:fs';
import { ManagedProcess, type RunAs } from './managed-process.js';
import type { TempDir } from './temp-dir.js';

/** A private D-Bus session bus on a socket in the test's temp dir. */
export class DbusDaemon {
  private constructor(
    readonly process: ManagedProcess,
    readonly address: string,
  ) {}

  /** `runAs`: the bus belongs to that user (only it may connect); `dir` is handed to it. */
  static async start(dir: TempDir, opts: { runAs?: RunAs } = {}): Promise<DbusDaemon> {
    const socket = dir.join('bus.sock');
    if (opts.runAs) chownSync(dir.path, opts.runAs.uid, opts.runAs.gid);
    const proc = new ManagedProcess(
      'dbus-daemon',
      'dbus-daemon',
      ['--session', '--nofork', '--nopidfile', '--print-address=1', `--address=unix:path=${socket}`],
      opts.runAs ? { runAs: opts.runAs } : {},
    );
    const m = await proc.waitForOutput(/^(unix:path=[^\n]+)$/m);
    return new DbusDaemon(proc, (m[1] ?? '').trim());
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

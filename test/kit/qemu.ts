import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from './managed-process.js';
import { QmpClient } from './qmp.js';
import type { TempDir } from './temp-dir.js';

/** The bare-metal test guest (test/guest), built by `pnpm build`. */
export const guestKernelPath = fileURLToPath(new URL('../../guest/build/guest.elf', import.meta.url));

export interface QemuOptions {
  /** D-Bus address for `-display dbus,addr=`; omit for no display. */
  busAddress?: string;
  /** Guest resolution, passed on the guest's command line. */
  width?: number;
  height?: number;
  /** Extra `-display dbus` suboptions, e.g. "gl=off". */
  displayOptions?: string;
  /** More QEMU arguments (devices). */
  extraArgs?: string[];
  binary?: string;
  name?: string;
}

/** QEMU (TCG) running the test guest, with a QMP socket. */
export class QemuVm {
  private constructor(
    readonly process: ManagedProcess,
    readonly qmp: QmpClient,
    readonly qmpPath: string,
    private readonly dir: TempDir,
  ) {}

  static async start(dir: TempDir, opts: QemuOptions = {}): Promise<QemuVm> {
    if (!existsSync(guestKernelPath))
      throw new Error(`test guest not built: ${guestKernelPath} (run pnpm build)`);
    const qmpPath = dir.join(`qmp-${Date.now()}.sock`);
    const display =
      opts.busAddress !== undefined
        ? [
            '-display',
            `dbus,addr=${opts.busAddress.replaceAll(',', ',,')}${opts.displayOptions ? `,${opts.displayOptions}` : ''}`,
          ]
        : ['-display', 'none'];
    const args = [
      '-accel',
      'tcg',
      '-machine',
      'pc',
      '-m',
      '64',
      '-nodefaults',
      '-no-user-config',
      '-vga',
      'std',
      '-name',
      opts.name ?? 'test-guest',
      '-kernel',
      guestKernelPath,
      '-append',
      `${opts.width ?? 1280}x${opts.height ?? 720}`,
      ...display,
      '-qmp',
      `unix:${qmpPath},server=on,wait=off`,
      ...(opts.extraArgs ?? []),
    ];
    const proc = new ManagedProcess('qemu', opts.binary ?? 'qemu-system-x86_64', args);
    try {
      const exitedEarly = proc.exited.then(({ code }) =>
        Promise.reject(new Error(`QEMU exited with code ${code}`)),
      );
      exitedEarly.catch(() => undefined); // only matters while we wait for QMP
      const qmp = await Promise.race([QmpClient.connect(qmpPath), exitedEarly]);
      return new QemuVm(proc, qmp, qmpPath, dir);
    } catch (error) {
      await proc.stop();
      throw new Error(`QEMU did not start: ${String(error)}\n${proc.output}`);
    }
  }

  /** The guest's screen as QEMU sees it. */
  screendump(): ReturnType<QmpClient['screendump']> {
    return this.qmp.screendump(this.dir.join(`screen-${process.hrtime.bigint()}.ppm`));
  }

  async stop(): Promise<void> {
    this.qmp.close();
    await this.process.stop();
  }
}

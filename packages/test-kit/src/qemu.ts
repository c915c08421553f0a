import { chownSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { GUEST_VIDEO_DEVICE_ID, guestKernelPath, guestQemuArgs, type GuestVideo } from '@qemu-webrtc/demo-vm';
import { ManagedProcess, type RunAs } from './managed-process.js';
import { qemuInstall, type QemuRelease } from './qemu-install.js';
import { QmpClient } from './qmp.js';
import type { TempDir } from './temp-dir.js';

export interface QemuOptions {
  /** D-Bus address for `-display dbus,addr=`; omit for no display. */
  busAddress?: string;
  /** Guest resolution, passed on the guest's command line. */
  width?: number;
  height?: number;
  /** Display device (default 'vga'). */
  video?: GuestVideo;
  /** Extra `-display dbus` suboptions, e.g. "gl=off". */
  displayOptions?: string;
  /** Display heads (video 'virtio' only): QEMU's graphic consoles 0..heads-1. */
  heads?: number;
  /** COM1 on a D-Bus chardev (guestQemuArgs' serialOnDbus) instead of the serial log file. */
  serialOnDbus?: boolean;
  /** More QEMU arguments (devices). */
  extraArgs?: string[];
  /** A file for QEMU's debug console (port 0xE9): the guest writes each keyboard byte there as hex. */
  debugconPath?: string;
  /** D-Bus audio fed by the PC speaker (guestQemuArgs' `audio`). */
  audio?: boolean;
  /** Which QEMU: the system's (10, default) or bookworm's 7.2 (no display flow control). */
  qemu?: QemuRelease;
  /** A QEMU binary to run instead (its own firmware and modules found by itself). */
  binary?: string;
  name?: string;
  /** Run QEMU as this user (needs root); `dir` is handed to it for the QMP socket and serial log. */
  runAs?: RunAs;
}

function copyGuest(dir: TempDir): string {
  const path = dir.join('guest.elf');
  copyFileSync(guestKernelPath, path);
  return path;
}

/** QEMU (TCG) running the test guest, with a QMP socket. */
export class QemuVm {
  private constructor(
    readonly process: ManagedProcess,
    readonly qmp: QmpClient,
    readonly qmpPath: string,
    private readonly dir: TempDir,
    /** Where the guest's serial port (COM1) is written: it says why it stopped, if it did. */
    readonly serialPath: string,
  ) {}

  static async start(dir: TempDir, opts: QemuOptions = {}): Promise<QemuVm> {
    if (!existsSync(guestKernelPath))
      throw new Error(`test guest not built: ${guestKernelPath} (run pnpm build)`);
    const stamp = `${Date.now()}-${process.hrtime.bigint()}`;
    const qmpPath = dir.join(`qmp-${stamp}.sock`);
    const serialPath = dir.join(`serial-${stamp}.log`);
    const install = qemuInstall(opts.qemu ?? 'system');
    const args = [
      ...install.args,
      ...guestQemuArgs({
        name: opts.name ?? 'test-guest',
        width: opts.width ?? 1280,
        height: opts.height ?? 720,
        video: opts.video ?? 'vga',
        ...(opts.busAddress !== undefined ? { busAddress: opts.busAddress } : {}),
        ...(opts.displayOptions !== undefined ? { displayOptions: opts.displayOptions } : {}),
        ...(opts.heads !== undefined ? { heads: opts.heads } : {}),
        ...(opts.serialOnDbus === true ? { serialOnDbus: true } : {}),
        ...(opts.debugconPath !== undefined ? { debugconPath: opts.debugconPath } : {}),
        ...(opts.audio === true ? { audio: true } : {}),
        // Another user may not reach the checkout: give it its own copy of the guest.
        ...(opts.runAs ? { kernel: copyGuest(dir) } : {}),
      }),
      ...(opts.serialOnDbus === true ? [] : ['-serial', `file:${serialPath}`]),
      '-qmp',
      `unix:${qmpPath},server=on,wait=off`,
      ...(opts.extraArgs ?? []),
    ];
    if (opts.runAs) chownSync(dir.path, opts.runAs.uid, opts.runAs.gid);
    const proc = new ManagedProcess('qemu', opts.binary ?? install.binary, args, {
      env: { ...process.env, ...install.env },
      ...(opts.runAs ? { runAs: opts.runAs } : {}),
    });
    try {
      const exitedEarly = proc.exited.then(({ code }) =>
        Promise.reject(new Error(`QEMU exited with code ${code}`)),
      );
      exitedEarly.catch(() => undefined); // only matters while we wait for QMP
      const qmp = await Promise.race([QmpClient.connect(qmpPath), exitedEarly]);
      return new QemuVm(proc, qmp, qmpPath, dir, serialPath);
    } catch (error) {
      await proc.stop();
      throw new Error(`QEMU did not start: ${String(error)}\n${proc.output}`);
    }
  }

  /** The guest's screen as QEMU sees it; `head`: that head of a several-head guest (QemuOptions.heads). */
  screendump(head?: number): ReturnType<QmpClient['screendump']> {
    return this.qmp.screendump(
      this.dir.join(`screen-${process.hrtime.bigint()}.ppm`),
      head !== undefined ? { device: GUEST_VIDEO_DEVICE_ID, head } : {},
    );
  }

  /** What the guest wrote to its serial port so far (empty unless it failed). */
  serialOutput(): string {
    try {
      return readFileSync(this.serialPath, 'utf8');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    this.qmp.close();
    await this.process.stop();
  }
}

// Which QEMU a test runs: the system's (QEMU 10 from bookworm-backports, on PATH), or bookworm's own
// QEMU 7.2 that scripts/setup-qemu-7.2.sh unpacks beside it (no D-Bus display flow control).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type QemuRelease = 'system' | '7.2';

/** Where setup-qemu-7.2.sh unpacked QEMU 7.2 (QEMU_7_2_DIR overrides, like for the script). */
export const qemu72Dir = process.env.QEMU_7_2_DIR ?? '/opt/qemu-7.2';

export interface QemuInstall {
  binary: string;
  /** Environment the binary needs on top of ours (its module directory). */
  env: Record<string, string>;
  /** Arguments it needs before any other (firmware search paths). */
  args: string[];
}

/** How to run the given QEMU; throws, saying how to install it, when it is not there. */
export function qemuInstall(release: QemuRelease): QemuInstall {
  if (release === 'system') return { binary: 'qemu-system-x86_64', env: {}, args: [] };
  const binary = join(qemu72Dir, 'usr/bin/qemu-system-x86_64');
  const modules = join(qemu72Dir, 'usr/lib/x86_64-linux-gnu/qemu');
  if (!existsSync(binary) || !existsSync(join(modules, 'ui-dbus.so'))) {
    throw new Error(`QEMU 7.2 is not unpacked in ${qemu72Dir}: run bash scripts/setup-qemu-7.2.sh`);
  }
  return {
    binary,
    // Without it QEMU looks for its modules (ui-dbus among them) where the system's QEMU 10 keeps its own.
    env: { QEMU_MODULE_DIR: modules },
    // Its own option ROMs first (linuxboot, multiboot), then SeaBIOS and the VGA BIOS.
    args: ['-L', join(qemu72Dir, 'usr/share/qemu'), '-L', '/usr/share/seabios'],
  };
}

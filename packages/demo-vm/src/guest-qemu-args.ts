// QEMU's command line for the test guest, shared by the test kit (QemuVm) and the start command's
// demo VM (scripts/start.mjs imports this package).
import { fileURLToPath } from 'node:url';

/** The bare-metal test guest (guest/ beside this package's src), built by `pnpm build`. */
export const guestKernelPath = fileURLToPath(new URL('../../guest/build/guest.elf', import.meta.url));

/**
 * The guest's display device. 'vga': std VGA, the guest sets a Bochs VBE mode (QEMU refreshes it on
 * its GUI timer, about every 30 ms). 'virtio': virtio-gpu-pci, the guest flushes every frame it
 * draws to the display at once (guest/README.md).
 */
export type GuestVideo = 'vga' | 'virtio';

export interface GuestQemuOptions {
  name: string;
  width: number;
  height: number;
  video: GuestVideo;
  /** D-Bus address for `-display dbus,addr=`; undefined: no display. */
  busAddress?: string;
  /** Extra `-display dbus` suboptions, e.g. "gl=off". */
  displayOptions?: string;
  /** The guest's ELF (default: the built one, guestKernelPath). */
  kernel?: string;
  /**
   * Audio out on the D-Bus display: a dbus audiodev (id `snd0`) fed by the PC speaker and named by
   * `-display dbus` (needs busAddress; without `audiodev=` on the display QEMU exports no Audio).
   */
  audio?: boolean;
}

/** The audiodev id of `audio: true`. */
export const GUEST_AUDIODEV = 'snd0';

/** QEMU arguments (TCG, no defaults) that boot the test guest with its display. */
export function guestQemuArgs(opts: GuestQemuOptions): string[] {
  const { width, height } = opts;
  const video =
    opts.video === 'virtio'
      ? ['-vga', 'none', '-device', `virtio-gpu-pci,xres=${width},yres=${height}`]
      : ['-vga', 'std'];
  const audio = opts.audio === true && opts.busAddress !== undefined;
  const displayOptions = [opts.displayOptions, audio ? `audiodev=${GUEST_AUDIODEV}` : undefined]
    .filter((o) => o !== undefined && o !== '')
    .join(',');
  const display =
    opts.busAddress !== undefined
      ? [
          '-display',
          `dbus,addr=${opts.busAddress.replaceAll(',', ',,')}${displayOptions ? `,${displayOptions}` : ''}`,
        ]
      : ['-display', 'none'];
  return [
    '-accel',
    'tcg',
    '-machine',
    audio ? `pc,pcspk-audiodev=${GUEST_AUDIODEV}` : 'pc',
    ...(audio ? ['-audiodev', `dbus,id=${GUEST_AUDIODEV}`] : []),
    '-m',
    '64',
    '-nodefaults',
    '-no-user-config',
    ...video,
    '-name',
    opts.name,
    '-kernel',
    opts.kernel ?? guestKernelPath,
    '-append',
    `${width}x${height}`,
    ...display,
  ];
}

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
  /**
   * COM1 on a D-Bus chardev (`-chardev dbus,id=ser0,name=org.qemu.console.serial.0`, needs
   * busAddress): the serial console the input service serves to pages; the guest also writes a
   * banner line at boot (`serial` on its command line) and echoes what it reads.
   */
  serialOnDbus?: boolean;
  /** The guest's ELF (default: the built one, guestKernelPath). */
  kernel?: string;
  /**
   * Display heads (default 1). More needs video 'virtio': `max_outputs=N` gives QEMU N graphic
   * consoles, and the guest draws its second head on scanout 1 (guest/README.md, Heads).
   */
  heads?: number;
  /** A file for QEMU's ISA debug console (port 0xE9): the guest writes each keyboard byte there. */
  debugconPath?: string;
  /**
   * Audio out on the D-Bus display: a dbus audiodev (id `snd0`) fed by the PC speaker and named by
   * `-display dbus` (needs busAddress; without `audiodev=` on the display QEMU exports no Audio).
   */
  audio?: boolean;
}

/** The `id` of the guest's virtio-gpu when it has several heads (QMP screendump's `device`). */
export const GUEST_VIDEO_DEVICE_ID = 'video0';

/** The `-device` value of the guest's virtio-gpu. */
function virtioGpu(width: number, height: number, heads: number): string {
  if (!Number.isInteger(heads) || heads < 1 || heads > 16)
    throw new TypeError(`heads must be an integer from 1 to 16, not ${String(heads)}`);
  const multi = heads > 1 ? `,id=${GUEST_VIDEO_DEVICE_ID},max_outputs=${heads}` : '';
  return `virtio-gpu-pci${multi},xres=${width},yres=${height}`;
}

/** The demo VM's serial chardev id (its object: /org/qemu/Display1/Chardev_ser0). */
export const SERIAL_CHARDEV_ID = 'ser0';

/** The audiodev id of `audio: true`. */
export const GUEST_AUDIODEV = 'snd0';

/** QEMU arguments (TCG, no defaults) that boot the test guest with its display. */
export function guestQemuArgs(opts: GuestQemuOptions): string[] {
  const { width, height } = opts;
  const heads = opts.heads ?? 1;
  if (heads !== 1 && opts.video !== 'virtio') throw new TypeError("several heads need video 'virtio'");
  const video =
    opts.video === 'virtio' ? ['-vga', 'none', '-device', virtioGpu(width, height, heads)] : ['-vga', 'std'];
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
  const serial =
    opts.serialOnDbus === true && opts.busAddress !== undefined
      ? [
          '-chardev',
          `dbus,id=${SERIAL_CHARDEV_ID},name=org.qemu.console.serial.0`,
          '-serial',
          `chardev:${SERIAL_CHARDEV_ID}`,
        ]
      : [];
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
    `${width}x${height}${serial.length > 0 ? ' serial' : ''}`,
    ...display,
    ...serial,
    ...(opts.debugconPath !== undefined ? ['-debugcon', `file:${opts.debugconPath}`] : []),
  ];
}

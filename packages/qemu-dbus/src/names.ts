// Names from QEMU's ui/dbus-display1.xml.
export const QEMU_BUS_NAME = 'org.qemu';
export const DISPLAY_ROOT = '/org/qemu/Display1';
export const VM_PATH = '/org/qemu/Display1/VM';
export const consolePath = (id: number): string => `/org/qemu/Display1/Console_${id}`;
export const LISTENER_PATH = '/org/qemu/Display1/Listener';
/** A D-Bus chardev (`-chardev dbus,id=ID,name=...`) is exported as Chardev_ID. */
export const chardevPath = (id: string): string => `/org/qemu/Display1/Chardev_${id}`;
export const CHARDEV_INTERFACE = 'org.qemu.Display1.Chardev';
/** QEMU's Audio object (only with `-audiodev dbus` named by `-display dbus,...,audiodev=`). */
export const AUDIO_PATH = '/org/qemu/Display1/Audio';
/** Where QEMU calls our audio output listener on its p2p link. */
export const AUDIO_OUT_LISTENER_PATH = '/org/qemu/Display1/AudioOutListener';

export const IFACE = {
  vm: 'org.qemu.Display1.VM',
  console: 'org.qemu.Display1.Console',
  keyboard: 'org.qemu.Display1.Keyboard',
  mouse: 'org.qemu.Display1.Mouse',
  multiTouch: 'org.qemu.Display1.MultiTouch',
  listener: 'org.qemu.Display1.Listener',
  listenerUnixMap: 'org.qemu.Display1.Listener.Unix.Map',
  listenerUnixScanoutDmabuf2: 'org.qemu.Display1.Listener.Unix.ScanoutDMABUF2',
  audio: 'org.qemu.Display1.Audio',
  audioOutListener: 'org.qemu.Display1.AudioOutListener',
  audioInListener: 'org.qemu.Display1.AudioInListener',
  properties: 'org.freedesktop.DBus.Properties',
  dbus: 'org.freedesktop.DBus',
} as const;

/** The error QEMU answers SetUIInfo with when the display device has no ui_info hook (std VGA). */
export const QEMU_ERROR_UNSUPPORTED = 'org.qemu.Display1.Error.Unsupported';

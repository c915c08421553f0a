import { callMethod, type MessageBus } from './bus-call.js';
import { AUDIO_PATH, IFACE, QEMU_BUS_NAME } from './names.js';

/**
 * Hands QEMU one end of a socket pair for its audio output (`Audio.RegisterOutListener(h)`); QEMU
 * then speaks D-Bus on it as the auth server, like on the display listener link, and calls
 * AudioOutListener methods at /org/qemu/Display1/AudioOutListener. Rejects when the VM has no
 * D-Bus audio (no Audio object: `-audiodev dbus` not named by `-display dbus,...,audiodev=`).
 * QEMU keeps one output listener per bus connection ("already registered" for a second).
 */
export async function registerAudioOutListener(
  bus: MessageBus,
  fd: number,
  destination = QEMU_BUS_NAME,
): Promise<void> {
  await callMethod(bus, {
    destination,
    path: AUDIO_PATH,
    interface: IFACE.audio,
    member: 'RegisterOutListener',
    signature: 'h',
    body: [fd],
  });
}

/** The AudioOutListener methods QEMU calls (ui/dbus-display1.xml), with their signatures. */
export const AUDIO_OUT_LISTENER_METHODS = {
  Init: 'tybbuyuub',
  Fini: 't',
  SetEnabled: 'tb',
  SetVolume: 'tbay',
  Write: 'tay',
} as const;

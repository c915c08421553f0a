import type { qemu_webrtc } from '@qemu-webrtc/proto';

type Body = Partial<qemu_webrtc.v1.IInputEvent>;

/**
 * The keys and buttons one viewer holds, as signaling relayed them. Input keeps the same record to
 * release what a leaving viewer holds, but input can be restarted (kill -9, crash) while a key is
 * down, and the new process knows nothing of it: so on leave signaling names every key and button
 * itself (key-ups, button-ups, then release_all), and whichever input process is alive lifts them.
 * Input ignores a release for a key another viewer still holds, and QEMU one for a key that is up.
 */
export class HeldInput {
  /** KeyboardEvent.code of the keys down. Bounded: codes are validated, a keyboard has ~200. */
  private readonly keys = new Set<string>();
  private readonly buttons = new Set<number>();

  /** Follows an event this viewer sent. */
  observe(event: qemu_webrtc.v1.IInputEvent): void {
    if (event.key?.code) {
      if (event.key.down === true) this.keys.add(event.key.code);
      else this.keys.delete(event.key.code);
    } else if (event.button && typeof event.button.button === 'number') {
      if (event.button.down === true) this.buttons.add(event.button.button);
      else this.buttons.delete(event.button.button);
    } else if (event.releaseAll) {
      this.keys.clear();
      this.buttons.clear();
    }
  }

  /** The bodies of the events that let go of everything held, ending with release_all. */
  releases(): Body[] {
    const bodies: Body[] = [
      ...[...this.keys].map((code) => ({ key: { code, down: false } })),
      ...[...this.buttons].map((button) => ({ button: { button, down: false } })),
      { releaseAll: {} },
    ];
    this.keys.clear();
    this.buttons.clear();
    return bodies;
  }
}

import { join } from 'node:path';
import { ProtocolError } from '@qemu-webrtc/common';
import { FrameRingReader } from '@qemu-webrtc/frame-ring';

/** Ring names are plain file names in the ring directory: nothing else may be opened. */
const RING_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;

export function isRingName(name: string): boolean {
  return RING_NAME.test(name) && !name.includes('..');
}

/** Open frame rings by name, re-opened when their generation changes (a resize). */
export class RingCache {
  private readonly readers = new Map<string, FrameRingReader>();

  constructor(private readonly dir: string) {}

  get(name: string, generation: number): FrameRingReader {
    if (!isRingName(name)) throw new ProtocolError(`invalid ring name ${JSON.stringify(name.slice(0, 80))}`);
    const cached = this.readers.get(name);
    if (cached && cached.generation === generation) return cached;
    // The ring on disk must have the generation asked for before the cached reader goes: a
    // FrameReady with a wrong generation (forged, or late) must not close a reader in use.
    const reader = FrameRingReader.open(join(this.dir, name));
    if (reader.generation !== generation) {
      reader.close();
      throw new ProtocolError(
        `ring ${name} has generation ${reader.generation}, FrameReady says ${generation}`,
      );
    }
    cached?.close();
    this.readers.set(name, reader);
    return reader;
  }

  /** Closes readers not used by any current stream. */
  retain(names: ReadonlySet<string>): void {
    for (const [name, reader] of this.readers) {
      if (!names.has(name)) {
        reader.close();
        this.readers.delete(name);
      }
    }
  }

  close(): void {
    for (const reader of this.readers.values()) reader.close();
    this.readers.clear();
  }
}

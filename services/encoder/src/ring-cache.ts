import { join } from 'node:path';
import { ProtocolError } from '@qemu-webrtc/common';
import { FrameRingReader } from '@qemu-webrtc/frame-ring';

/** Ring names are plain file names in the ring directory: nothing else may be opened. */
const RING_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;

export function isRingName(name: string): boolean {
  return RING_NAME.test(name) && !name.includes('..');
}

/**
 * Open frame rings by name. Each console's newest FrameReady names its current ring; a reader is
 * kept only for a ring some console's newest FrameReady names, and closed as soon as that console
 * moves to another ring (a new mode, a restarted VM or capture) or is forgotten. Ring names never
 * repeat (capture makes them unique per writer), so a cached reader is never another ring's.
 */
export class RingCache {
  private readonly readers = new Map<string, FrameRingReader>();
  /** "vm.console" -> the ring its newest FrameReady names. */
  private readonly current = new Map<string, string>();

  constructor(private readonly dir: string) {}

  /**
   * A console's newest FrameReady names ring `name` at `generation`: its reader (opened when
   * needed) becomes the console's current ring, and the reader of the ring it had before is
   * closed. A ring that cannot be opened at that generation throws and changes nothing: a forged
   * or late FrameReady must not close a reader in use.
   */
  adopt(consoleKey: string, name: string, generation: number): FrameRingReader {
    if (!isRingName(name)) throw new ProtocolError(`invalid ring name ${JSON.stringify(name.slice(0, 80))}`);
    let reader = this.readers.get(name);
    if (!reader || reader.generation !== generation) {
      const opened = FrameRingReader.open(join(this.dir, name));
      if (opened.generation !== generation) {
        opened.close();
        throw new ProtocolError(
          `ring ${name} has generation ${opened.generation}, FrameReady says ${generation}`,
        );
      }
      reader?.close();
      this.readers.set(name, opened);
      reader = opened;
    }
    const before = this.current.get(consoleKey);
    if (before !== name) {
      this.current.set(consoleKey, name);
      if (before !== undefined && !this.isCurrent(before)) this.closeReader(before);
    }
    return reader;
  }

  /**
   * The reader of ring `name` at `generation`; undefined when no console's newest FrameReady names
   * it any more, or at another generation (the frame is stale: its ring is gone or going).
   */
  get(name: string, generation: number): FrameRingReader | undefined {
    if (!this.isCurrent(name)) return undefined;
    const reader = this.readers.get(name);
    return reader?.generation === generation ? reader : undefined;
  }

  /** Forgets consoles not in `consoleKeys` and closes every reader no remaining console names. */
  retain(consoleKeys: ReadonlySet<string>): void {
    for (const key of this.current.keys()) if (!consoleKeys.has(key)) this.current.delete(key);
    for (const name of [...this.readers.keys()]) if (!this.isCurrent(name)) this.closeReader(name);
  }

  /** Names of the rings open now (sorted). */
  get openRings(): string[] {
    return [...this.readers.keys()].sort();
  }

  close(): void {
    for (const reader of this.readers.values()) reader.close();
    this.readers.clear();
    this.current.clear();
  }

  private isCurrent(name: string): boolean {
    for (const n of this.current.values()) if (n === name) return true;
    return false;
  }

  private closeReader(name: string): void {
    this.readers.get(name)?.close();
    this.readers.delete(name);
  }
}

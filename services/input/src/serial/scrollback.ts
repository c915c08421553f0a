/**
 * The newest bytes of a serial console, at most `capacity`, addressed by stream offset: offset 0 is
 * the first byte the chardev ever produced in this buffer's life, so a reader that knows where it
 * stopped asks for exactly what it lacks (and learns how much fell out of the window).
 */
export class Scrollback {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Offset just after the newest byte (= bytes appended so far). */
  end = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`bad capacity ${capacity}`);
  }

  /** Offset of the oldest byte still kept. */
  get start(): number {
    return this.end - this.size;
  }

  append(data: Uint8Array): void {
    if (data.length === 0) return;
    this.end += data.length;
    // Copy: the caller's buffer may be reused; keep at most `capacity` of it.
    const kept = data.length > this.capacity ? data.subarray(data.length - this.capacity) : data;
    this.chunks.push(Buffer.from(kept));
    this.size += kept.length;
    while (this.size > this.capacity) {
      const first = this.chunks[0];
      if (!first) break;
      const excess = this.size - this.capacity;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  /** What is kept from `from` on (clamped to the window), and how many asked-for bytes are gone. */
  since(from: number): { offset: number; data: Buffer; lost: number } {
    const start = this.start;
    const offset = Math.min(Math.max(from, start), this.end);
    const all = Buffer.concat(this.chunks, this.size);
    return {
      offset,
      data: all.subarray(offset - start),
      lost: Math.max(0, Math.min(start, this.end) - from),
    };
  }
}

import type { qemu_webrtc } from '@qemu-webrtc/proto';

export interface RenditionSpec {
  name: string;
  /** Output size as a fraction of the console size. */
  scale: number;
  /** The encoders' configured (nominal) bitrate. */
  bitrateBps: number;
}

/** A rendition no heartbeat has named for this long is forgotten (encoders reconfigured). */
const FORGET_AFTER_MS = 10_000;

/**
 * The renditions the encoders make of every console, learnt from their heartbeats (EncoderWatch
 * feeds `learn`; encoders are configured alike; the newest word on a name wins). Best first:
 * larger scale, then higher bitrate.
 */
export class RenditionLadder {
  private readonly specs = new Map<string, { spec: RenditionSpec; seenMs: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  learn(renditions: readonly qemu_webrtc.v1.IRenditionSpec[]): void {
    const now = this.now();
    for (const r of renditions) {
      const name = r.name ?? '';
      const scale = r.scale ?? 0;
      const bitrateBps = r.bitrateBps ?? 0;
      // Heartbeats are trusted peers, but a malformed one must not poison the ladder.
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(name) || !(scale > 0 && scale <= 1) || bitrateBps <= 0) continue;
      this.specs.set(name, { spec: { name, scale, bitrateBps }, seenMs: now });
    }
  }

  /** Known renditions, best first. */
  ordered(): RenditionSpec[] {
    const now = this.now();
    const live: RenditionSpec[] = [];
    for (const [name, entry] of this.specs) {
      if (now - entry.seenMs > FORGET_AFTER_MS) this.specs.delete(name);
      else live.push(entry.spec);
    }
    return live.sort(
      (a, b) => b.scale - a.scale || b.bitrateBps - a.bitrateBps || a.name.localeCompare(b.name),
    );
  }

  get(name: string): RenditionSpec | undefined {
    return this.ordered().find((r) => r.name === name);
  }

  /** The next rendition below (step > 0) or above (step < 0) `name`, if any. */
  neighbour(name: string, step: 1 | -1): RenditionSpec | undefined {
    const list = this.ordered();
    const i = list.findIndex((r) => r.name === name);
    return i < 0 ? undefined : list[i + step];
  }
}

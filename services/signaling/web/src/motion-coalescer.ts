import type { InputMessage } from './protocol/browser-protocol.js';
import { MAX_INPUT_REL_DELTA } from './protocol/input-limits.js';

type Motion = Extract<InputMessage, { t: 'move' | 'rel' | 'wheel' }>;

/** Relative or wheel sums never grow past this per message (the shared relative bound; wheel's is larger). */
const MAX_SUM = MAX_INPUT_REL_DELTA;
/** While the channel holds more than this unsent, motion waits (and keeps merging). */
const MAX_BUFFERED_BYTES = 16 * 1024;
const RETRY_MS = 8;

/**
 * Latest-wins motion: pointer moves become the newest position, relative moves and wheel deltas
 * are summed, and what is pending goes out once the current burst of events is handled (and the
 * DataChannel is not backed up). Anything else (keys, buttons, touch, release) goes out at once,
 * right after the motion pending before it, so a click lands where the pointer was.
 */
export class MotionCoalescer {
  private move: Extract<Motion, { t: 'move' }> | undefined;
  private rel: Extract<Motion, { t: 'rel' }> | undefined;
  private wheel: Extract<Motion, { t: 'wheel' }> | undefined;
  private timer: number | undefined;

  constructor(
    private readonly out: (m: InputMessage) => void,
    /** Bytes the channel holds unsent (0 when unknown). */
    private readonly buffered: () => number = () => 0,
  ) {}

  send(m: InputMessage): void {
    switch (m.t) {
      case 'move':
        if (this.rel || this.wheel) this.flush(); // what came before a move goes before it
        this.move = m;
        break;
      case 'rel':
        if (this.move || this.wheel) this.flush();
        if (this.rel && Math.max(Math.abs(this.rel.dx + m.dx), Math.abs(this.rel.dy + m.dy)) > MAX_SUM) {
          this.flush();
        }
        this.rel = this.rel ? { ...m, dx: this.rel.dx + m.dx, dy: this.rel.dy + m.dy } : m;
        break;
      case 'wheel':
        if (
          this.wheel &&
          Math.max(Math.abs(this.wheel.dx + m.dx), Math.abs(this.wheel.dy + m.dy)) > MAX_SUM
        ) {
          this.flush();
        }
        this.wheel = this.wheel ? { ...m, dx: this.wheel.dx + m.dx, dy: this.wheel.dy + m.dy } : m;
        break;
      default:
        this.flush();
        this.out(m);
        return;
    }
    this.timer ??= window.setTimeout(() => this.onTimer(), 0);
  }

  private onTimer(): void {
    this.timer = undefined;
    if (!this.move && !this.rel && !this.wheel) return;
    if (this.buffered() > MAX_BUFFERED_BYTES) {
      this.timer = window.setTimeout(() => this.onTimer(), RETRY_MS);
      return;
    }
    this.flush();
  }

  /** Sends what is pending now: position first, then wheel (as the events came, near enough). */
  flush(): void {
    const pending = [this.move, this.rel, this.wheel];
    this.move = this.rel = this.wheel = undefined;
    for (const m of pending) if (m) this.out(m);
  }

  /** Forgets what is pending (the channel closed). */
  clear(): void {
    this.move = this.rel = this.wheel = undefined;
    window.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

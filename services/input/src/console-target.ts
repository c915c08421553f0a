import { TouchKind, type QemuConsole } from '@qemu-webrtc/qemu-dbus';
import { MAX_INPUT_REL_DELTA } from '@qemu-webrtc/common';
import { isSafeQemuButton, type QemuButton } from './buttons.js';
import type { CallResult, CallRunner } from './dbus-calls.js';
import type { InputMetrics } from './metrics.js';
import type { DropReason, TouchPhaseName } from './validate.js';

/**
 * What applying an action did: calls sent (resolves when the last returned), nothing, a drop, or
 * motion merged into the motion call that goes out when the one in flight returns (resolves when
 * that call returned).
 */
export type Outcome =
  { sent: Promise<void> } | { dropped: DropReason } | { noop: true } | { coalesced: Promise<void> };

const NOOP: Outcome = { noop: true };

/** Pointer motion not yet sent: the newest absolute position, or summed relative motion. */
type Motion =
  | { kind: 'abs'; p: { x: number; y: number }; from: { x: number; y: number } | undefined }
  | { kind: 'rel'; dx: number; dy: number };

/** Motion waiting for the call in flight, and what resolves once it went out and returned. */
interface PendingMotion {
  motion: Motion;
  done: Promise<void>;
  resolve: () => void;
}

function pendingMotion(motion: Motion): PendingMotion {
  let resolve = (): void => undefined;
  const done = new Promise<void>((r) => (resolve = r));
  return { motion, done, resolve };
}
const TOUCH_KIND: Record<TouchPhaseName, TouchKind> = {
  begin: TouchKind.begin,
  update: TouchKind.update,
  end: TouchKind.end,
  cancel: TouchKind.cancel,
};

/** The calls ConsoleTarget makes on QEMU's console object. */
export type ConsoleCalls = Pick<
  QemuConsole,
  | 'keyPress'
  | 'keyRelease'
  | 'mousePress'
  | 'mouseRelease'
  | 'setAbsPosition'
  | 'relMotion'
  | 'touchSendEvent'
>;

export interface ConsoleState {
  width: number;
  height: number;
  absolute: boolean;
  /** MultiTouch MaxSlots; undefined when QEMU has no MultiTouch (before 8.1). */
  maxSlots: number | undefined;
}

/**
 * One QEMU console as the input service drives it: its size and mouse mode (followed from the
 * bus), the pointer position last sent, and who holds which key, button and touch. Keys and buttons
 * are reference-counted across viewers: one viewer leaving never lifts a key another still holds.
 *
 * Motion is latest-wins: while a motion call is in flight, further motion is merged (the newest
 * position, or summed relative motion) and goes out when it returns, so a burst of moves never
 * builds a queue at QEMU. Anything else (keys, buttons, touch) first sends the pending motion, then
 * goes at once: a click lands where the pointer was, and a key never waits behind motion.
 */
export class ConsoleTarget {
  width: number;
  height: number;
  absolute: boolean;
  maxSlots: number | undefined;
  private last: { x: number; y: number } | undefined;
  /** Sub-pixel remainders of relative motion. */
  private remX = 0;
  private remY = 0;
  private readonly keyHolders = new Map<number, Set<string>>();
  private readonly buttonHolders = new Map<number, Set<string>>();
  /** "viewer\nslot" -> QEMU slot. */
  private readonly touches = new Map<string, number>();
  private motionInFlight = 0;
  private pending: PendingMotion | undefined;

  constructor(
    readonly id: number,
    private readonly qemu: ConsoleCalls,
    private readonly calls: CallRunner,
    private readonly metrics: InputMetrics,
    state: ConsoleState,
    private readonly onModeError: () => void,
  ) {
    this.width = state.width;
    this.height = state.height;
    this.absolute = state.absolute;
    this.maxSlots = state.maxSlots;
  }

  /** Keys, buttons and touches held on this console (by all viewers, counted once per viewer). */
  get heldCount(): number {
    let n = this.touches.size;
    for (const s of this.keyHolders.values()) n += s.size;
    for (const s of this.buttonHolders.values()) n += s.size;
    return n;
  }

  holds(viewer: string): boolean {
    for (const s of this.keyHolders.values()) if (s.has(viewer)) return true;
    for (const s of this.buttonHolders.values()) if (s.has(viewer)) return true;
    for (const k of this.touches.keys()) if (k.startsWith(`${viewer}\n`)) return true;
    return false;
  }

  key(viewer: string, qnum: number, down: boolean): Outcome {
    this.flushMotion();
    const release = this.hold(this.keyHolders, viewer, qnum, down);
    if (release === 'skip') return NOOP;
    return this.send(down ? 'Keyboard.Press' : 'Keyboard.Release', () =>
      down ? this.qemu.keyPress(qnum) : this.qemu.keyRelease(qnum),
    );
  }

  button(viewer: string, button: QemuButton, down: boolean): Outcome {
    if (!isSafeQemuButton(button)) return { dropped: 'bad_button' };
    this.flushMotion();
    const release = this.hold(this.buttonHolders, viewer, button, down);
    if (release === 'skip') return NOOP;
    return this.send(down ? 'Mouse.Press' : 'Mouse.Release', () =>
      down ? this.qemu.mousePress(button) : this.qemu.mouseRelease(button),
    );
  }

  /**
   * Holds (down) or lets go (up) of `code` for `viewer`. A release goes to QEMU only when no other
   * viewer holds the code; a release by a viewer that does not hold it still goes (QEMU ignores
   * releases of keys that are up), so a key held across a restart of this service can be lifted.
   */
  private hold(
    holders: Map<number, Set<string>>,
    viewer: string,
    code: number,
    down: boolean,
  ): 'send' | 'skip' {
    let set = holders.get(code);
    if (down) {
      if (!set) holders.set(code, (set = new Set()));
      set.add(viewer);
      return 'send';
    }
    if (!set) return 'send';
    set.delete(viewer);
    if (set.size > 0) return 'skip';
    holders.delete(code);
    return 'send';
  }

  /** Clicks (press + release) each wheel button in order. */
  wheel(buttons: readonly QemuButton[]): Outcome {
    if (buttons.length === 0) return NOOP;
    this.flushMotion();
    const sent: Promise<unknown>[] = [];
    for (const b of buttons) {
      if (!isSafeQemuButton(b)) continue;
      sent.push(this.calls.run('Mouse.Press', () => this.qemu.mousePress(b)));
      sent.push(this.calls.run('Mouse.Release', () => this.qemu.mouseRelease(b)));
    }
    return { sent: Promise.all(sent).then(() => undefined) };
  }

  private clamp(x: number, y: number): { x: number; y: number } {
    const cx = Math.min(Math.max(Math.round(x), 0), this.width - 1);
    const cy = Math.min(Math.max(Math.round(y), 0), this.height - 1);
    if (cx !== Math.round(x) || cy !== Math.round(y)) this.metrics.positionsClamped.inc();
    return { x: cx, y: cy };
  }

  /** An absolute position (console pixels): SetAbsPosition, or the motion from the last one. */
  move(x: number, y: number): Outcome {
    if (this.width <= 0 || this.height <= 0) return { dropped: 'no_console_size' };
    const p = this.clamp(x, y);
    const from = this.last;
    this.last = p;
    if (this.absolute) return this.motion({ kind: 'abs', p, from });
    if (!from) return NOOP; // no reference yet: this position becomes the reference
    if (p.x === from.x && p.y === from.y) return NOOP;
    return this.motion({ kind: 'rel', dx: p.x - from.x, dy: p.y - from.y });
  }

  /** Relative motion (pointer lock); with an absolute mouse it moves the absolute position. */
  relative(dx: number, dy: number): Outcome {
    this.remX += dx;
    this.remY += dy;
    const ix = Math.trunc(this.remX);
    const iy = Math.trunc(this.remY);
    this.remX -= ix;
    this.remY -= iy;
    if (this.absolute) {
      if (this.width <= 0 || this.height <= 0) return { dropped: 'no_console_size' };
      const from = this.last ?? { x: this.width >> 1, y: this.height >> 1 };
      const p = this.clamp(from.x + ix, from.y + iy);
      this.last = p;
      return this.motion({ kind: 'abs', p, from });
    }
    if (this.last) this.last = this.clamp(this.last.x + ix, this.last.y + iy);
    if (ix === 0 && iy === 0) return NOOP;
    return this.motion({ kind: 'rel', dx: ix, dy: iy });
  }

  /** Sends motion now, or merges it into what goes out when the motion call in flight returns. */
  private motion(m: Motion): Outcome {
    if (this.motionInFlight === 0 && !this.pending) return this.sendMotion(m);
    const pending = this.pending?.motion;
    if (!pending) {
      this.pending = pendingMotion(m);
    } else if (pending.kind === 'abs' && m.kind === 'abs') {
      pending.p = m.p; // the newest position; `from` stays the one last sent
    } else if (
      pending.kind === 'rel' &&
      m.kind === 'rel' &&
      Math.abs(pending.dx + m.dx) <= MAX_INPUT_REL_DELTA &&
      Math.abs(pending.dy + m.dy) <= MAX_INPUT_REL_DELTA
    ) {
      pending.dx += m.dx;
      pending.dy += m.dy;
    } else {
      // Another kind (the mouse mode changed), or a sum past the bound: in order, nothing lost.
      this.flushMotion();
      this.pending = pendingMotion(m);
    }
    this.metrics.eventsCoalesced.inc({ kind: m.kind === 'abs' ? 'move' : 'relative' });
    return { coalesced: this.pending?.done ?? Promise.resolve() };
  }

  /** Sends the pending motion now (before a key, button or touch, in order). */
  private flushMotion(): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    const o = this.sendMotion(p.motion);
    if ('sent' in o) void o.sent.then(p.resolve);
    else p.resolve();
  }

  private sendMotion(m: Motion): Outcome {
    const outcome = m.kind === 'abs' ? this.sendAbs(m.p, m.from) : this.sendRel(m.dx, m.dy);
    if (!('sent' in outcome)) return outcome;
    this.motionInFlight++;
    return {
      sent: outcome.sent.then(() => {
        this.motionInFlight--;
        if (this.motionInFlight === 0) this.flushMotion();
      }),
    };
  }

  private sendAbs(p: { x: number; y: number }, from: { x: number; y: number } | undefined): Outcome {
    const sent = this.calls.run('Mouse.SetAbsPosition', () => this.qemu.setAbsPosition(p.x, p.y));
    return {
      sent: sent.then(async (r) => {
        // QEMU switched to a relative mouse under us: follow, and move there relatively.
        if (modeRefused(r, 'not absolute')) {
          this.absolute = false;
          this.modeError();
          if (from && (p.x !== from.x || p.y !== from.y)) {
            await this.calls.run('Mouse.RelMotion', () => this.qemu.relMotion(p.x - from.x, p.y - from.y));
          }
        } else if (!r.ok && /position/i.test(r.error.message)) {
          this.modeError(); // the size changed under us: read it again
        }
      }),
    };
  }

  private sendRel(dx: number, dy: number): Outcome {
    if (dx === 0 && dy === 0) return NOOP;
    const sent = this.calls.run('Mouse.RelMotion', () => this.qemu.relMotion(dx, dy));
    return {
      sent: sent.then(async (r) => {
        if (modeRefused(r, 'not relative')) {
          this.absolute = true;
          this.modeError();
          const p = this.last;
          if (p) await this.calls.run('Mouse.SetAbsPosition', () => this.qemu.setAbsPosition(p.x, p.y));
        }
      }),
    };
  }

  private modeError(): void {
    this.metrics.mouseModeFallbacks.inc();
    this.onModeError();
  }

  touch(viewer: string, slot: number, phase: TouchPhaseName, x: number, y: number): Outcome {
    if (this.maxSlots === undefined || this.maxSlots <= 0) return { dropped: 'no_touch' };
    if (this.width <= 0 || this.height <= 0) return { dropped: 'no_console_size' };
    const key = `${viewer}\n${slot}`;
    let qslot = this.touches.get(key);
    let kind = TOUCH_KIND[phase];
    if (qslot === undefined) {
      if (phase !== 'begin') return { dropped: 'touch_not_active' };
      qslot = this.freeSlot();
      if (qslot === undefined) return { dropped: 'touch_slots_full' };
      this.touches.set(key, qslot);
    } else if (phase === 'begin') {
      kind = TouchKind.update; // a second begin for an active touch moves it
    }
    if (phase === 'end' || phase === 'cancel') this.touches.delete(key);
    this.flushMotion();
    const p = this.clamp(x, y);
    const s = qslot;
    return this.send('MultiTouch.SendEvent', () => this.qemu.touchSendEvent(kind, s, p.x, p.y));
  }

  private freeSlot(): number | undefined {
    const used = new Set(this.touches.values());
    for (let s = 0; s < (this.maxSlots ?? 0); s++) if (!used.has(s)) return s;
    return undefined;
  }

  /** Lets go of everything `viewer` holds here. Returns how many things were released. */
  releaseViewer(viewer: string): { count: number; sent: Promise<void> } {
    const sent: Promise<unknown>[] = [];
    let count = 0;
    for (const [qnum, set] of [...this.keyHolders]) {
      if (!set.has(viewer)) continue;
      count++;
      const o = this.key(viewer, qnum, false);
      if ('sent' in o) sent.push(o.sent);
    }
    for (const [button, set] of [...this.buttonHolders]) {
      if (!set.has(viewer)) continue;
      count++;
      const o = isSafeQemuButton(button) ? this.button(viewer, button, false) : NOOP;
      if ('sent' in o) sent.push(o.sent);
    }
    for (const [key, qslot] of [...this.touches]) {
      if (!key.startsWith(`${viewer}\n`)) continue;
      count++;
      this.touches.delete(key);
      const p = this.last ?? { x: 0, y: 0 };
      sent.push(
        this.calls.run('MultiTouch.SendEvent', () =>
          this.qemu.touchSendEvent(TouchKind.cancel, qslot, p.x, p.y),
        ),
      );
    }
    return { count, sent: Promise.all(sent).then(() => undefined) };
  }

  private send(method: string, call: () => Promise<void>): Outcome {
    return { sent: this.calls.run(method, call).then(() => undefined) };
  }
}

function modeRefused(r: CallResult, text: string): boolean {
  return !r.ok && !r.timedOut && r.error.message.includes(text);
}

import { containBox, toConsole, withoutPadding, type ContentBox } from './geometry.js';
import { MotionCoalescer } from './motion-coalescer.js';
import {
  KEY_CODE_PATTERN,
  MAX_MOUSE_BUTTON,
  type ConsoleEntry,
  type InputMessage,
  type TouchPhase,
} from './protocol/browser-protocol.js';
import { MAX_INPUT_TOUCH_SLOT, MAX_INPUT_WHEEL_DELTA } from './protocol/input-limits.js';

/** What input needs to know of the console. */
export type ConsoleGeometry = Pick<
  ConsoleEntry,
  'width' | 'height' | 'mouseIsAbsolute' | 'hasMultitouch' | 'touchMaxSlots'
>;

interface InputSink {
  send(message: InputMessage): void;
  /** Bytes sent but not yet on the wire (the DataChannel's bufferedAmount). */
  buffered?(): number;
  /** The local pointer moved over the picture (for drawing the cursor at once). */
  pointer(x: number | undefined, y: number | undefined): void;
}

const SHIFT_KEYS = ['ShiftLeft', 'ShiftRight'];
const MODIFIER_KEYS = new Set([
  ...SHIFT_KEYS,
  'ControlLeft',
  'ControlRight',
  'AltLeft',
  'AltRight',
  'MetaLeft',
  'MetaRight',
  'CapsLock',
]);

/**
 * Turns the stage's keyboard, mouse, wheel and touch events into input messages: keys by
 * KeyboardEvent.code (layout-independent) with the browser's own handling suppressed while the
 * stage has focus; pointer positions mapped exactly to console pixels through the letterboxing;
 * pointer lock for relative mode; touch slots for multitouch consoles. Motion is coalesced
 * (MotionCoalescer): a burst of moves goes out as the newest position, never ahead of a key.
 */
export class InputCapture {
  private readonly heldKeys = new Set<string>();
  /** Key events dropped for having no usable KeyboardEvent.code (see onKey). */
  droppedKeys = 0;
  private readonly heldButtons = new Set<number>();
  private readonly touchSlots = new Map<number, number>();
  private geometry: ConsoleGeometry | undefined;
  private readonly abort = new AbortController();
  private readonly out: MotionCoalescer;

  constructor(
    private readonly stage: HTMLElement,
    private readonly video: HTMLVideoElement,
    private readonly sink: InputSink,
  ) {
    this.out = new MotionCoalescer(
      (m) => sink.send(m),
      () => sink.buffered?.() ?? 0,
    );
    const opts = { signal: this.abort.signal };
    stage.addEventListener('keydown', (e) => this.onKey(e, true), opts);
    stage.addEventListener('keyup', (e) => this.onKey(e, false), opts);
    stage.addEventListener('blur', () => this.releaseAll(), opts);
    stage.addEventListener('pointermove', (e) => this.onPointerMove(e), opts);
    stage.addEventListener('pointerdown', (e) => this.onPointerButton(e, true), opts);
    stage.addEventListener('pointerup', (e) => this.onPointerButton(e, false), opts);
    stage.addEventListener('pointercancel', (e) => this.onPointerButton(e, false), opts);
    stage.addEventListener('pointerleave', () => this.sink.pointer(undefined, undefined), opts);
    stage.addEventListener('wheel', (e) => this.onWheel(e), { ...opts, passive: false });
    stage.addEventListener('contextmenu', (e) => e.preventDefault(), opts);
    document.addEventListener(
      'pointerlockchange',
      () => {
        stage.classList.toggle('pointer-locked', document.pointerLockElement === stage);
      },
      opts,
    );
  }

  setConsole(geometry: ConsoleGeometry): void {
    this.geometry = geometry;
  }

  /** Where the console's picture is inside the stage (CSS pixels), the coded padding left out. */
  box(): ContentBox {
    const { videoWidth, videoHeight } = this.video;
    const box = containBox(this.stage.clientWidth, this.stage.clientHeight, videoWidth, videoHeight);
    const g = this.geometry;
    return g ? withoutPadding(box, videoWidth, videoHeight, g.width, g.height) : box;
  }

  private now(): number {
    return performance.timeOrigin + performance.now();
  }

  /**
   * Keys go to the guest as physical keys (KeyboardEvent.code), so the guest's own layout applies.
   * Input without real key presses behind it is made to type what it says where it can:
   * - shiftKey set on a key, but no Shift key seen pressed (scripted typing, on-screen and mobile
   *   keyboards, IMEs: key '!', code 'Digit1'): the key's press is wrapped in a Shift press and
   *   release. shiftKey clear while the page holds a Shift key (its release was missed): that
   *   Shift is released first.
   * - No usable code ('' or 'Unidentified', as Android's keyboards send while composing): nothing
   *   is sent (a code-less key cannot be mapped to a physical key), the event is counted and the
   *   first one logged. Text belongs to paste-as-keys (issue 16), not to key events.
   */
  private onKey(e: KeyboardEvent, down: boolean): void {
    if (e.code === 'Unidentified' || !KEY_CODE_PATTERN.test(e.code)) {
      if (this.droppedKeys++ === 0)
        console.warn(
          `key event without a usable code (key ${JSON.stringify(e.key)}, code ${JSON.stringify(e.code)}) ` +
            'not sent to the guest; text input needs paste-as-keys',
        );
      return;
    }
    // Everything goes to the guest while the stage has focus: no browser shortcuts.
    e.preventDefault();
    e.stopPropagation();
    const ts = this.now();
    if (!down) {
      if (this.heldKeys.delete(e.code)) this.out.send({ t: 'key', code: e.code, down, ts });
      return;
    }
    let wrapShift = false;
    if (!MODIFIER_KEYS.has(e.code)) {
      const held = SHIFT_KEYS.filter((k) => this.heldKeys.has(k));
      if (e.shiftKey && held.length === 0) wrapShift = true;
      if (!e.shiftKey)
        for (const k of held) {
          this.heldKeys.delete(k);
          this.out.send({ t: 'key', code: k, down: false, ts });
        }
    }
    if (wrapShift) this.out.send({ t: 'key', code: 'ShiftLeft', down: true, ts });
    this.heldKeys.add(e.code);
    this.out.send({ t: 'key', code: e.code, down, ts });
    if (wrapShift) this.out.send({ t: 'key', code: 'ShiftLeft', down: false, ts });
  }

  private point(e: PointerEvent, clamp = false): { x: number; y: number } | undefined {
    const g = this.geometry;
    if (!g || g.width <= 0) return undefined;
    const rect = this.stage.getBoundingClientRect();
    return toConsole(e.clientX - rect.left, e.clientY - rect.top, this.box(), g.width, g.height, clamp);
  }

  private relative(): boolean {
    return this.geometry?.mouseIsAbsolute === false && document.pointerLockElement === this.stage;
  }

  private onPointerMove(e: PointerEvent): void {
    if (e.pointerType === 'touch' && this.geometry?.hasMultitouch) {
      this.onTouch(e, 'update');
      return;
    }
    if (this.relative()) {
      const box = this.box();
      const g = this.geometry;
      const scale = g && box.width > 0 ? g.width / box.width : 1;
      this.out.send({ t: 'rel', dx: e.movementX * scale, dy: e.movementY * scale, ts: this.now() });
      return;
    }
    const p = this.point(e, this.heldButtons.size > 0);
    const rect = this.stage.getBoundingClientRect();
    this.sink.pointer(p ? e.clientX - rect.left : undefined, p ? e.clientY - rect.top : undefined);
    if (p) this.out.send({ t: 'move', x: p.x, y: p.y, ts: this.now() });
  }

  private onPointerButton(e: PointerEvent, down: boolean): void {
    this.stage.focus({ preventScroll: true });
    if (e.pointerType === 'touch' && this.geometry?.hasMultitouch) {
      this.onTouch(e, down ? 'begin' : e.type === 'pointercancel' ? 'cancel' : 'end');
      return;
    }
    e.preventDefault();
    if (down && this.geometry?.mouseIsAbsolute === false && document.pointerLockElement !== this.stage) {
      void this.stage.requestPointerLock();
    }
    if (e.button < 0 || e.button > MAX_MOUSE_BUTTON) return;
    if (down) {
      try {
        this.stage.setPointerCapture(e.pointerId);
      } catch {
        // not an active pointer (synthetic events): no capture, no harm
      }
      const p = this.relative() ? undefined : this.point(e);
      if (!this.relative() && !p) return; // on the letterbox bars
      if (p) this.out.send({ t: 'move', x: p.x, y: p.y, ts: this.now() });
      this.heldButtons.add(e.button);
    } else if (!this.heldButtons.delete(e.button)) {
      return;
    }
    this.out.send({ t: 'button', button: e.button, down, ts: this.now() });
  }

  private onTouch(e: PointerEvent, phase: TouchPhase): void {
    e.preventDefault();
    let slot = this.touchSlots.get(e.pointerId);
    if (phase === 'begin') {
      const max = Math.min(this.geometry?.touchMaxSlots ?? 10, MAX_INPUT_TOUCH_SLOT + 1) || 10;
      const used = new Set(this.touchSlots.values());
      for (let s = 0; s < max && slot === undefined; s++) if (!used.has(s)) slot = s;
      if (slot === undefined) return;
      this.touchSlots.set(e.pointerId, slot);
    }
    if (slot === undefined) return;
    if (phase === 'end' || phase === 'cancel') this.touchSlots.delete(e.pointerId);
    const p = this.point(e, true);
    if (!p) return;
    this.out.send({ t: 'touch', slot, phase, x: p.x, y: p.y, ts: this.now() });
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const unit =
      e.deltaMode === WheelEvent.DOM_DELTA_LINE ? 16 : e.deltaMode === WheelEvent.DOM_DELTA_PAGE ? 400 : 1;
    const limit = MAX_INPUT_WHEEL_DELTA;
    const dx = Math.max(-limit, Math.min(limit, e.deltaX * unit));
    const dy = Math.max(-limit, Math.min(limit, e.deltaY * unit));
    if (dx !== 0 || dy !== 0) this.out.send({ t: 'wheel', dx, dy, ts: this.now() });
  }

  /** Lets go of every key and button (focus lost, page hidden). */
  releaseAll(): void {
    if (this.heldKeys.size === 0 && this.heldButtons.size === 0 && this.touchSlots.size === 0) return;
    this.heldKeys.clear();
    this.heldButtons.clear();
    this.touchSlots.clear();
    this.out.send({ t: 'release', ts: this.now() });
  }

  dispose(): void {
    this.out.clear();
    this.abort.abort();
  }
}

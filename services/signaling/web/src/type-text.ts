import { KEYBOARD_LAYOUTS, type KeyboardLayout, type KeyStroke } from './gen/keyboard-layouts.js';
import type { InputMessage } from './protocol/browser-protocol.js';

/**
 * "Type text": paste as keystrokes, for guests without an agent (firmware, installers, disk-unlock
 * prompts). The text becomes physical key presses for the guest's layout chosen here (tables
 * generated from xkeyboard-config, gen/keyboard-layouts.ts), with Shift and AltGr (AltRight) as the
 * layout needs, sent through the page's ordinary input channel at a chosen rate, so signaling's
 * checks (control viewers only) and the input service's validation and release of held keys apply.
 * Characters the layout cannot type are reported before anything is sent. The text itself never
 * leaves the page: only key events do, and nothing here logs it.
 */

/** One character's presses: the modifiers held around the key. */
export interface PlannedStroke {
  code: string;
  shift: boolean;
  altGr: boolean;
}

export interface Plan {
  strokes: PlannedStroke[];
  /** Characters the layout cannot type (each once, in text order), with their count. */
  untypeable: { char: string; count: number }[];
}

/** Keys every layout types the same way (not characters of the xkb tables). */
const CONTROL_KEYS: ReadonlyMap<string, KeyStroke> = new Map([
  ['\n', ['Enter', false, false]],
  ['\t', ['Tab', false, false]],
]);

/**
 * Turns text into key strokes for a layout: composed first (NFC: e + U+0301 is é), \r\n and \r
 * count as one Enter.
 */
export function planTyping(text: string, layout: KeyboardLayout): Plan {
  const strokes: PlannedStroke[] = [];
  const missing = new Map<string, number>();
  for (const ch of text.normalize('NFC').replace(/\r\n?/g, '\n')) {
    const k = CONTROL_KEYS.get(ch) ?? layout.chars.get(ch);
    if (!k) missing.set(ch, (missing.get(ch) ?? 0) + 1);
    else strokes.push({ code: k[0], shift: k[1], altGr: k[2] });
  }
  return { strokes, untypeable: [...missing].map(([char, count]) => ({ char, count })) };
}

/** How a character is shown in a report: visible, or its code point. */
function showChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const name = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return /\p{L}|\p{N}|\p{P}|\p{S}/u.test(ch) ? `“${ch}” (${name})` : name;
}

export interface TypeTextSink {
  send(message: InputMessage): void;
  /** The input channel is open. */
  open(): boolean;
  /** The input channel's bufferedAmount. */
  buffered(): number;
  /** This viewer may control the VM. */
  canControl(): boolean;
}

const STORE_LAYOUT = 'qemu-webrtc.typeText.layout';
const STORE_RATE = 'qemu-webrtc.typeText.rate';
export const DEFAULT_RATE = 12;
export const MAX_RATE = 100;
/** Bytes queued on the DataChannel above which typing waits. */
const MAX_BUFFERED = 16 * 1024;

function stored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function store(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // private mode: not remembered
  }
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** The "Type text" panel and the typing loop. */
export class TypeText {
  readonly panel: HTMLDivElement;
  private readonly text: HTMLTextAreaElement;
  private readonly layoutSelect: HTMLSelectElement;
  private readonly rateInput: HTMLInputElement;
  private readonly typeButton: HTMLButtonElement;
  private readonly abortButton: HTMLButtonElement;
  private readonly progress: HTMLProgressElement;
  private readonly status: HTMLDivElement;
  private running: { aborted: boolean } | undefined;
  /** Characters typed of the current (or last) text, and its length in strokes. */
  done = 0;
  total = 0;
  state: 'idle' | 'typing' | 'done' | 'aborted' | 'refused' = 'idle';
  /** The last report shown (untypeable characters, errors). */
  message = '';

  constructor(
    private readonly sink: TypeTextSink,
    toggle: HTMLButtonElement,
  ) {
    this.text = el('textarea', {
      id: 'type-text-input',
      rows: 5,
      placeholder: 'Text to type into the VM as key presses',
      spellcheck: false,
    });
    this.layoutSelect = el('select', { id: 'type-text-layout', title: "The guest's keyboard layout" });
    for (const l of KEYBOARD_LAYOUTS)
      this.layoutSelect.append(el('option', { value: l.id }, `${l.label} (${l.id})`));
    const savedLayout = stored(STORE_LAYOUT);
    if (savedLayout && KEYBOARD_LAYOUTS.some((l) => l.id === savedLayout))
      this.layoutSelect.value = savedLayout;
    this.layoutSelect.addEventListener('change', () => store(STORE_LAYOUT, this.layoutSelect.value));
    this.rateInput = el('input', {
      id: 'type-text-rate',
      type: 'number',
      min: '1',
      max: String(MAX_RATE),
      value: stored(STORE_RATE) ?? String(DEFAULT_RATE),
      title: 'Characters per second',
    });
    this.rateInput.addEventListener('change', () => store(STORE_RATE, String(this.rate())));
    const paste = el('button', { id: 'type-text-paste', type: 'button' }, 'From clipboard');
    paste.addEventListener('click', () => void this.fromClipboard());
    this.typeButton = el('button', { id: 'type-text-go', type: 'button' }, 'Type');
    this.typeButton.addEventListener('click', () => void this.start());
    this.abortButton = el('button', { id: 'type-text-abort', type: 'button', disabled: true }, 'Abort');
    this.abortButton.addEventListener('click', () => this.abort());
    this.progress = el('progress', { id: 'type-text-progress', max: 1, value: 0 });
    this.status = el('div', { id: 'type-text-status', className: 'type-text-status' });
    this.status.setAttribute('role', 'status');
    this.panel = el(
      'div',
      { id: 'type-text', className: 'type-text', hidden: true },
      this.text,
      el(
        'div',
        { className: 'type-text-row' },
        paste,
        el('label', {}, 'Layout ', this.layoutSelect),
        el('label', {}, 'Rate ', this.rateInput, ' chars/s'),
      ),
      el('div', { className: 'type-text-row' }, this.typeButton, this.abortButton, this.progress),
      this.status,
    );
    // Keys typed in the panel are the panel's, not the guest's.
    for (const type of ['keydown', 'keyup'] as const)
      this.panel.addEventListener(type, (e) => e.stopPropagation());
    toggle.addEventListener('click', () => {
      this.panel.hidden = !this.panel.hidden;
      if (!this.panel.hidden) this.text.focus();
    });
    document.body.append(this.panel);
  }

  private rate(): number {
    const r = Math.round(Number(this.rateInput.value));
    return Number.isFinite(r) ? Math.min(MAX_RATE, Math.max(1, r)) : DEFAULT_RATE;
  }

  private layout(): KeyboardLayout | undefined {
    return KEYBOARD_LAYOUTS.find((l) => l.id === this.layoutSelect.value) ?? KEYBOARD_LAYOUTS[0];
  }

  private report(state: TypeText['state'], message: string): void {
    this.state = state;
    this.message = message;
    this.status.textContent = message;
    this.status.classList.toggle('error', state === 'refused' || state === 'aborted');
  }

  private async fromClipboard(): Promise<void> {
    try {
      this.text.value = await navigator.clipboard.readText();
      this.report('idle', '');
    } catch {
      this.report('refused', 'The browser did not give the clipboard: paste into the box (Ctrl+V) instead.');
    }
  }

  /** Types the box's text (or the given text, for tests) with the chosen layout and rate. */
  async start(text = this.text.value): Promise<void> {
    if (this.running) return;
    if (!this.sink.canControl()) {
      this.report('refused', 'View only: typing needs the control role.');
      return;
    }
    if (!this.sink.open()) {
      this.report('refused', 'Not connected.');
      return;
    }
    const layout = this.layout();
    if (!layout) return;
    const plan = planTyping(text, layout);
    if (plan.untypeable.length > 0) {
      const list = plan.untypeable.map((u) => showChar(u.char)).join(', ');
      this.report('refused', `Nothing sent: the ${layout.label} layout cannot type ${list}.`);
      return;
    }
    const run = { aborted: false };
    this.running = run;
    this.done = 0;
    this.total = plan.strokes.length;
    this.typeButton.disabled = true;
    this.abortButton.disabled = false;
    this.report('typing', `Typing ${this.total} characters…`);
    const interval = 1000 / this.rate();
    let next = performance.now();
    try {
      for (const s of plan.strokes) {
        while (!run.aborted && this.sink.buffered() > MAX_BUFFERED) await sleep(interval);
        if (run.aborted || !this.sink.open()) break;
        this.stroke(s);
        this.done++;
        this.progress.value = this.done / this.total;
        next += interval;
        await sleep(Math.max(0, next - performance.now()));
      }
    } finally {
      this.running = undefined;
      this.typeButton.disabled = false;
      this.abortButton.disabled = true;
      if (this.done === this.total) this.report('done', `Typed ${this.total} characters.`);
      else {
        // Whatever a stroke left down is let go of (the input service releases this viewer's keys).
        if (this.sink.open()) this.sink.send({ t: 'release', ts: now() });
        this.report('aborted', `Stopped after ${this.done} of ${this.total} characters.`);
      }
    }
  }

  /** One character: modifiers down, the key down and up, modifiers up. */
  private stroke(s: PlannedStroke): void {
    const key = (code: string, down: boolean): void => this.sink.send({ t: 'key', code, down, ts: now() });
    if (s.shift) key('ShiftLeft', true);
    if (s.altGr) key('AltRight', true);
    key(s.code, true);
    key(s.code, false);
    if (s.altGr) key('AltRight', false);
    if (s.shift) key('ShiftLeft', false);
  }

  abort(): void {
    if (this.running) this.running.aborted = true;
  }

  /** Lets the UI reflect the viewer's role. */
  setRole(canControl: boolean): void {
    this.typeButton.title = canControl ? '' : 'View only: typing needs the control role';
  }
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

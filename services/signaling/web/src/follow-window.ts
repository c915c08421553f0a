import type { ResizeOutcome, Role, ServerMessage } from './protocol/browser-protocol.js';
import { clampUiInfo } from './protocol/input-limits.js';

/** The viewer's choice, remembered per browser. */
export type FollowMode = 'follow' | 'keep';
const STORAGE_KEY = 'qemu-webrtc.follow-window';
/** The size goes out this long after the last change (a window being dragged sends one hint). */
export const FOLLOW_DEBOUNCE_MS = 300;
/** CSS pixels are 1/96 inch: the physical size the guest may pick a scale from. */
const MM_PER_CSS_PX = 25.4 / 96;

export interface DisplaySize {
  width: number;
  height: number;
  widthMm: number;
  heightMm: number;
}

type ResizeMessage = Extract<ServerMessage, { type: 'resize' }>;

export interface FollowWindowHooks {
  /** Sends the size (null: stop following) to signaling. */
  send(size: DisplaySize | null): void;
  /** Tells the user something, once per kind. */
  notify(text: string): void;
}

function storedMode(): FollowMode {
  try {
    return localStorage.getItem(STORAGE_KEY) === 'keep' ? 'keep' : 'follow';
  } catch {
    return 'follow';
  }
}

const NOTICES: Partial<Record<ResizeOutcome, (m: ResizeMessage) => string>> = {
  unsupported: () =>
    'This VM’s display cannot follow the window: its display device cannot change resolution on request (std VGA cannot; virtio-gpu can). The picture is scaled to fit.',
  ignored: (m) =>
    `The guest did not change its resolution to fit the window${m.consoleWidth > 0 ? ` (it stays at ${m.consoleWidth}×${m.consoleHeight})` : ''}. The picture is scaled to fit.`,
  other_viewer: () =>
    'Another viewer with control sets the VM’s resolution (the one that last used keyboard or mouse). The picture is scaled to fit this window.',
  failed: () => 'Could not ask the VM to change its resolution. The picture is scaled to fit.',
};

/**
 * "Resolution follows the window": the player area in device pixels (and its size in mm) goes to
 * the VM (Console.SetUIInfo through signaling and the input service) FOLLOW_DEBOUNCE_MS after its
 * last change, from control viewers only, while the viewer chose to follow (the checkbox,
 * remembered in localStorage). What the server answers is said once per kind; the <video> is
 * scaled to fit the area whatever happens (CSS object-fit).
 */
export class FollowWindow {
  mode: FollowMode = storedMode();
  /** The player area: device pixels. */
  area = { width: 0, height: 0, widthMm: 0, heightMm: 0 };
  /** Hints sent, and the last answer (for tests and debugging). */
  sent = 0;
  lastOutcome: ResizeOutcome | undefined;
  readonly notices: string[] = [];
  private role: Role | undefined;
  private connected = false;
  private lastSent: string | undefined;
  private timer: number | undefined;
  /** QEMU said the device cannot follow: no more hints until the viewer chooses again. */
  private unsupported = false;
  private readonly said = new Set<ResizeOutcome>();

  constructor(
    stage: HTMLElement,
    private readonly toggle: HTMLInputElement,
    private readonly hooks: FollowWindowHooks,
  ) {
    toggle.checked = this.mode === 'follow';
    toggle.addEventListener('change', () => this.choose(toggle.checked ? 'follow' : 'keep'));
    const observer = new ResizeObserver((entries) => {
      const e = entries.at(-1);
      if (e) this.measure(e);
    });
    try {
      observer.observe(stage, { box: 'device-pixel-content-box' });
    } catch {
      observer.observe(stage); // no device-pixel box here: CSS size times devicePixelRatio
    }
  }

  private measure(e: ResizeObserverEntry): void {
    // Safari has no device-pixel box: CSS size times devicePixelRatio there.
    const device = (e.devicePixelContentBoxSize as readonly ResizeObserverSize[] | undefined)?.[0];
    const cssWidth = e.contentRect.width;
    const cssHeight = e.contentRect.height;
    this.area = {
      width: Math.round(device?.inlineSize ?? cssWidth * devicePixelRatio),
      height: Math.round(device?.blockSize ?? cssHeight * devicePixelRatio),
      widthMm: Math.round(cssWidth * MM_PER_CSS_PX),
      heightMm: Math.round(cssHeight * MM_PER_CSS_PX),
    };
    this.schedule();
  }

  /** The session is up (its viewer exists on the server) with this role: the size goes out. */
  connect(role: Role | undefined): void {
    this.role = role;
    this.connected = true;
    this.lastSent = undefined; // a new session: the server knows nothing of this page yet
    this.schedule();
  }

  disconnect(): void {
    this.connected = false;
    window.clearTimeout(this.timer);
  }

  private choose(mode: FollowMode): void {
    this.mode = mode;
    try {
      localStorage.setItem(STORAGE_KEY, mode);
    } catch {
      // storage refused: the choice holds for this page only
    }
    this.unsupported = false;
    this.said.delete('unsupported');
    if (mode === 'keep') {
      window.clearTimeout(this.timer);
      if (this.lastSent !== undefined && this.connected && this.role === 'control') this.hooks.send(null);
      this.lastSent = undefined;
    } else {
      this.schedule();
    }
  }

  private schedule(): void {
    window.clearTimeout(this.timer);
    if (!this.wanted()) return;
    this.timer = window.setTimeout(() => this.flush(), FOLLOW_DEBOUNCE_MS);
  }

  private wanted(): boolean {
    // Never from a view-only viewer (signaling refuses it too).
    return this.mode === 'follow' && this.connected && this.role === 'control' && !this.unsupported;
  }

  private flush(): void {
    if (!this.wanted() || this.area.width <= 0 || this.area.height <= 0) return;
    const size = clampUiInfo(this.area);
    const key = JSON.stringify(size);
    if (key === this.lastSent) return;
    this.lastSent = key;
    this.sent++;
    this.hooks.send(size);
  }

  /** Signaling's answer to a hint this page sent. */
  onResult(m: ResizeMessage): void {
    this.lastOutcome = m.outcome;
    if (m.outcome === 'unsupported') this.unsupported = true;
    const notice = NOTICES[m.outcome]?.(m);
    if (notice === undefined || this.said.has(m.outcome)) return;
    this.said.add(m.outcome);
    this.notices.push(notice);
    this.hooks.notify(notice);
  }
}

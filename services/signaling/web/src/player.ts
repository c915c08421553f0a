import {
  HttpError,
  MESSAGES,
  element,
  fetchConsoles,
  pageToken,
  tokenFragment,
  type Problem,
} from './common.js';
import { AudioControls } from './audio-controls.js';
import { CursorOverlay } from './cursor-overlay.js';
import { InputCapture } from './input-capture.js';
import type { ConsoleEntry, InputErrorMessage, InputMessage, Role } from './protocol/browser-protocol.js';
import { Session } from './session.js';
import { StatsOverlay } from './stats-overlay.js';

interface KeyboardLock {
  lock(keys?: string[]): Promise<void>;
  unlock(): void;
}

const stage = element('stage', HTMLDivElement);
const video = element('video', HTMLVideoElement);
const overlay = element('overlay', HTMLDivElement);
const toast = element('toast', HTMLDivElement);
const statsPre = element('stats', HTMLPreElement);
const cursorCanvas = element('cursor', HTMLCanvasElement);
const roleBadge = element('role', HTMLSpanElement);

const [, , vmPart = '', consolePart = ''] = location.pathname.split('/');
const vm = decodeURIComponent(vmPart);
const consoleId = Number(consolePart);
const token = pageToken();
const rendition = new URLSearchParams(location.search).get('rendition') ?? undefined;
element('title', HTMLSpanElement).textContent = `${vm} · console ${consoleId}`;
document.title = `${vm}:${consoleId} · qemu-webrtc`;
const home = element('home', HTMLAnchorElement);
home.href = `/${tokenFragment(token)}`;

let consoleInfo: ConsoleEntry | undefined;
let role: Role | undefined;
let session: Session | undefined;
let inputChannel: RTCDataChannel | undefined;
let attempt = 0;
let retryTimer: number | undefined;
/** Reconnection tries at a short interval before the backoff starts. */
const QUICK_RETRIES = 6;
let stopped = false;
let toastTimer: number | undefined;

function showOverlay(text: string | undefined, error = false): void {
  overlay.hidden = text === undefined;
  overlay.textContent = text ?? '';
  overlay.classList.toggle('error', error);
}

function showToast(text: string): void {
  toast.textContent = text;
  toast.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (toast.hidden = true), 3000);
}

const cursor = new CursorOverlay(cursorCanvas, () => ({
  box: input.box(),
  consoleWidth: consoleInfo?.width ?? 0,
  consoleHeight: consoleInfo?.height ?? 0,
}));

function sendInput(m: InputMessage): void {
  const dc = inputChannel;
  if (!dc || dc.readyState !== 'open') return;
  // A view-only page still sends keys and buttons, so the server can say why nothing happens;
  // pointer motion it keeps to itself.
  if (role === 'view' && (m.t === 'move' || m.t === 'rel' || m.t === 'wheel' || m.t === 'touch')) return;
  dc.send(JSON.stringify(m));
}

const input = new InputCapture(stage, video, {
  send: sendInput,
  buffered: () => inputChannel?.bufferedAmount ?? 0,
  pointer: (x, y) => cursor.setLocal(x, y),
});

const audio = new AudioControls(video, element('stats-toggle', HTMLButtonElement), (text) => showToast(text));

const stats = new StatsOverlay(statsPre, video, () => session?.clockOffsetMs ?? Number.NaN);

function scheduleRetry(): void {
  if (stopped) return;
  window.clearTimeout(retryTimer);
  // A restarted server is back within seconds: the first tries come every half second, then the
  // waits double (to 30 s), each with jitter so a crowd of pages does not come back at once.
  const base = attempt < QUICK_RETRIES ? 500 : Math.min(30_000, 1000 * 2 ** (attempt - QUICK_RETRIES));
  const delay = base * (0.75 + Math.random() * 0.5);
  attempt++;
  retryTimer = window.setTimeout(() => void connect(), delay);
}

function fail(code: Problem, retry: boolean): void {
  showOverlay(MESSAGES[code] ?? code, true);
  if (retry) scheduleRetry();
  else stopped = true;
}

async function connect(): Promise<void> {
  session?.end('reconnect');
  session = undefined;
  if (attempt === 0) showOverlay('Connecting…');
  // Check the token and the console first: a WebSocket cannot tell us why it was refused.
  try {
    const list = await fetchConsoles(token);
    const entry = list.consoles.find((c) => c.vmId === vm && c.consoleId === consoleId && c.graphic);
    if (!entry) {
      fail('unknown_console', true);
      return;
    }
    if (!entry.running) {
      fail('vm_not_running', true);
      return;
    }
    consoleInfo = entry;
    input.setConsole(entry);
  } catch (error) {
    const unauthorized = error instanceof HttpError && error.status === 401;
    fail(unauthorized ? 'unauthorized' : 'server_unreachable', !unauthorized);
    return;
  }
  const s = new Session(
    token,
    { vm, console: consoleId, ...(rendition !== undefined ? { rendition } : {}) },
    {
      hello: (r) => {
        role = r;
        roleBadge.textContent = r === 'control' ? 'control' : 'view only';
      },
      console: (entry) => {
        consoleInfo = entry;
        input.setConsole(entry);
        cursor.draw();
      },
      track: (stream) => {
        // Video and audio share one stream: the second track must not restart the element.
        if (video.srcObject !== stream) video.srcObject = stream;
        audio.attach(stream);
        void video.play().catch(() => undefined);
      },
      input: (dc) => {
        inputChannel = dc;
        dc.onmessage = (e) => {
          if (typeof e.data !== 'string') return;
          try {
            const m = JSON.parse(e.data) as Partial<InputErrorMessage>;
            if (m.type === 'error')
              showToast(
                (m.code !== undefined ? MESSAGES[m.code] : undefined) ?? m.message ?? 'input refused',
              );
          } catch {
            // ignore
          }
        };
      },
      cursor: (dc) => {
        dc.onmessage = (e) => {
          if (e.data instanceof ArrayBuffer) {
            void cursor.onMessage(e.data).then(() => stage.classList.toggle('guest-cursor', cursor.hasShape));
          }
        };
      },
      connected: () => {
        attempt = 0;
        if (s.peerConnection) stats.start(s.peerConnection);
        showOverlay('Waiting for the picture…');
      },
      problem: (code, message, fatal) => {
        if (code === 'view_only' || !fatal) {
          showToast(MESSAGES[code] ?? message);
          return;
        }
        showOverlay(MESSAGES[code] ?? message, true);
      },
      ended: (reason) => {
        stats.stop();
        inputChannel = undefined;
        if (session !== s) return;
        if (overlay.hidden || !overlay.classList.contains('error')) {
          showOverlay(
            reason === 'signaling closed'
              ? (MESSAGES.server_unreachable ?? '')
              : (MESSAGES.connection_failed ?? ''),
            true,
          );
        }
        scheduleRetry();
      },
    },
  );
  session = s;
}

video.addEventListener('playing', () => showOverlay(undefined));
video.addEventListener('resize', () => cursor.draw());
new ResizeObserver(() => cursor.draw()).observe(stage);
document.addEventListener('visibilitychange', () => {
  if (document.hidden) input.releaseAll();
});

element('stats-toggle', HTMLButtonElement).addEventListener('click', () => {
  statsPre.hidden = !statsPre.hidden;
});
/** Keyboard Lock is held (full screen): system keys go to the guest. */
let keyboardLocked = false;
element('fullscreen', HTMLButtonElement).addEventListener('click', () => {
  const keyboard = (navigator as Navigator & { keyboard?: KeyboardLock }).keyboard;
  if (document.fullscreenElement) {
    void document.exitFullscreen();
    return;
  }
  void document.body
    .requestFullscreen({ navigationUI: 'hide' })
    .then(async () => {
      stage.focus();
      // Escape, Meta, Alt+Tab… reach the guest while in full screen (hold Escape to leave).
      keyboardLocked =
        (await keyboard?.lock().then(
          () => true,
          () => false,
        )) ?? false;
    })
    .catch(() => undefined);
});
document.addEventListener('fullscreenchange', () => {
  if (document.fullscreenElement) return;
  (navigator as Navigator & { keyboard?: KeyboardLock }).keyboard?.unlock();
  keyboardLocked = false;
});

/** For debugging and tests. */
(window as Window & { qemuWebrtc?: unknown }).qemuWebrtc = {
  get stats() {
    return stats.current;
  },
  get role() {
    return role;
  },
  get keyboardLocked() {
    return keyboardLocked;
  },
  get console() {
    return consoleInfo;
  },
  get inputOpen() {
    return inputChannel?.readyState === 'open';
  },
  /** The connection (tests read its getStats()). */
  get peer() {
    return session?.peerConnection;
  },
  /** Key events not sent for want of a usable KeyboardEvent.code. */
  get droppedKeys() {
    return input.droppedKeys;
  },
  /** Sends a raw input message, bypassing the page's own checks (tests of the server's). */
  sendRaw(text: string) {
    inputChannel?.send(text);
  },
};

stage.focus();
void connect();

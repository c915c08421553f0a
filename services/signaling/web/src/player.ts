import {
  HttpError,
  MESSAGES,
  element,
  fetchConsoles,
  pageToken,
  tokenFragment,
  type Problem,
} from './common.js';
import { ConsoleSwitcher } from './console-switcher.js';
import { AudioControls } from './audio-controls.js';
import { CursorOverlay } from './cursor-overlay.js';
import { FollowWindow } from './follow-window.js';
import { InputCapture } from './input-capture.js';
import type { ConsoleEntry, InputErrorMessage, InputMessage, Role } from './protocol/browser-protocol.js';
import { SerialPane } from './serial-pane.js';
import { Session } from './session.js';
import { StatsOverlay } from './stats-overlay.js';
import { TypeText } from './type-text.js';

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
/** The console this page shows: from its URL, then from the console selector (no reload). */
let consoleId = Number(consolePart);
const token = pageToken();
const rendition = new URLSearchParams(location.search).get('rendition') ?? undefined;
function showTitle(): void {
  element('title', HTMLSpanElement).textContent = `${vm} · console ${consoleId}`;
  document.title = `${vm}:${consoleId} · qemu-webrtc`;
}
showTitle();
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

function showToast(text: string, ms = 3000): void {
  toast.textContent = text;
  toast.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (toast.hidden = true), ms);
}

const follow = new FollowWindow(stage, element('follow-window', HTMLInputElement), {
  send: (size) => session?.sendResize(size),
  notify: (text) => showToast(text, 10_000),
});

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

/** The VM's serial console, if it has one (its own WebSocket; shown once one is found). */
const serialPane = new SerialPane(
  {
    pane: element('serial', HTMLDivElement),
    terminal: element('serial-terminal', HTMLDivElement),
    status: element('serial-status', HTMLSpanElement),
    copy: element('serial-copy', HTMLButtonElement),
    toggle: element('serial-toggle', HTMLButtonElement),
  },
  token,
  vm,
);

const typeText = new TypeText(
  {
    send: sendInput,
    open: () => inputChannel?.readyState === 'open',
    buffered: () => inputChannel?.bufferedAmount ?? 0,
    canControl: () => role === 'control',
  },
  element('type-text-toggle', HTMLButtonElement),
);
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

/** Counts connect() calls: one overtaken by a newer (a console switch) while it awaits gives up. */
let connects = 0;

async function connect(): Promise<void> {
  session?.end('reconnect');
  session = undefined;
  const generation = ++connects;
  if (attempt === 0) showOverlay('Connecting…');
  // Check the token and the console first: a WebSocket cannot tell us why it was refused.
  try {
    const list = await fetchConsoles(token);
    if (generation !== connects) return;
    switcher.show(list.consoles);
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
    if (generation !== connects) return;
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
        typeText.setRole(r === 'control');
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
      resize: (m) => follow.onResult(m),
      connected: () => {
        attempt = 0;
        follow.connect(role);
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
        if (session === s) follow.disconnect();
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

/** Shows another console of this VM in this page: a session for it, the URL follows (no reload). */
function switchConsole(id: number, how: 'push' | 'none' = 'push'): void {
  if (id === consoleId) return;
  input.releaseAll();
  const old = session;
  session = undefined;
  old?.end('switch');
  consoleId = id;
  consoleInfo = undefined;
  switcher.consoleId = id;
  if (how === 'push') {
    history.pushState(null, '', `/view/${encodeURIComponent(vm)}/${id}${location.search}${location.hash}`);
  }
  showTitle();
  stage.focus(); // keys go to the guest again, not to the selector
  window.clearTimeout(retryTimer);
  attempt = 0;
  stopped = false;
  void connect();
}
const switcher = new ConsoleSwitcher(
  element('console-select', HTMLSelectElement),
  vm,
  consoleId,
  token,
  switchConsole,
);
switcher.start();
window.addEventListener('popstate', () => {
  const id = Number(location.pathname.split('/')[3]);
  if (Number.isInteger(id) && id >= 0) switchConsole(id, 'none');
});

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
  /** The console this page shows now (its URL's, or the one picked since). */
  get consoleId() {
    return consoleId;
  },
  /** Shows another console of this VM, as the console selector does. */
  switchConsole(id: number) {
    switchConsole(id);
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
  /** Resolution follows the window: the choice, the player area, hints sent, answers, notices. */
  get follow() {
    return {
      mode: follow.mode,
      area: follow.area,
      sent: follow.sent,
      lastOutcome: follow.lastOutcome,
      notices: [...follow.notices],
    };
  },
  /** The serial console pane (serial-pane.ts). */
  serial: {
    text: () => serialPane.text(),
    get received() {
      return serialPane.received;
    },
    type: (text: string) => serialPane.term.input(text, true),
    status: () => element('serial-status', HTMLSpanElement).textContent,
  },
  /** Sends a raw input message, bypassing the page's own checks (tests of the server's). */
  sendRaw(text: string) {
    inputChannel?.send(text);
  },
  /** "Type text" (paste as keystrokes): its panel's state, and start/abort without the clicks. */
  typeText,
};

stage.focus();
void connect();

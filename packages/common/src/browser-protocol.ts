// The browser's protocol with signaling, defined once: the WebSocket messages both ways, the
// "input" DataChannel's messages and refusals, the console list, their limits and the one
// vocabulary of error codes. Signaling's zod schemas are checked against these types (a drift
// fails tsc), and the page (services/signaling/web) compiles this very file: it must stay free of
// Node and import nothing. The bounds of coordinates, deltas and touch slots are input-limits.ts's
// (shared with the input service; the page compiles that file too).

// --- limits ---

/** A WebSocket text message larger than this is refused (the socket closes above the hard limit). */
export const MAX_WS_MESSAGE_BYTES = 96 * 1024;
export const WS_HARD_LIMIT_BYTES = 1024 * 1024;
/** Close code for a missing or wrong token (4000-4999: the application's own). */
export const WS_CLOSE_UNAUTHORIZED = 4401;
/** A token is at most this many characters. */
export const MAX_TOKEN_CHARS = 256;
/** An ICE candidate line and its media id are at most this many characters. */
export const MAX_CANDIDATE_CHARS = 1024;
export const MAX_MID_CHARS = 64;
/** Console ids are QEMU's console indexes. */
export const MAX_CONSOLE_ID = 0xffff;
/** An "input" DataChannel message larger than this is refused unread. */
export const MAX_INPUT_MESSAGE_BYTES = 512;
/** A key is named by its KeyboardEvent.code (physical key), which always looks like this. */
export const KEY_CODE_PATTERN = /^[A-Za-z][A-Za-z0-9]{0,31}$/;
/** Mouse buttons as PointerEvent.button numbers them: 0..MAX_MOUSE_BUTTON. */
export const MAX_MOUSE_BUTTON = 4;
/** An input message's `ts` (client clock, ms since the epoch) is at most this. */
export const MAX_CLIENT_TIME_MS = 1e15;
export const TOUCH_PHASES = ['begin', 'update', 'end', 'cancel'] as const;
/** Serial console: typed bytes per binary WebSocket message at most (the page splits pastes). */
export const MAX_SERIAL_INPUT_BYTES = 4096;
/** Serial console: a paste larger than this is refused by the page (the guest reads slowly). */
export const MAX_SERIAL_PASTE_BYTES = 64 * 1024;

// --- error codes ---

/**
 * Every code an `error` message carries, WebSocket and DataChannel alike; snake_case, like the
 * metric labels they become (`signaling_rejected_total{reason="ws_<code>"}`). The page explains each.
 */
export type ErrorCode =
  | 'unauthorized'
  | 'bad_message'
  | 'too_large'
  | 'rate_limited'
  | 'already_watching'
  | 'not_watching'
  | 'unknown_console'
  | 'vm_not_running'
  | 'too_many_viewers'
  | 'negotiation_failed'
  | 'connection_failed'
  | 'view_only'
  | 'malformed'
  /** Serial console: the VM has none (that the input service serves), or it is not open here. */
  | 'no_serial';

/** Why an input message was refused (sent back on the "input" DataChannel). */
export type InputRefusal = Extract<ErrorCode, 'view_only' | 'too_large' | 'malformed' | 'rate_limited'>;

// --- what both sides talk about ---

export type Role = 'control' | 'view';

/** One STUN or TURN server, as a browser's RTCPeerConnection takes it (RTCIceServer). */
export interface BrowserIceServer {
  urls: string;
  username?: string;
  credential?: string;
}

/** A console as GET /api/consoles lists it and the `console` message describes it. */
export interface ConsoleEntry {
  vmId: string;
  consoleId: number;
  label: string;
  vmName: string;
  vmUuid: string;
  width: number;
  height: number;
  graphic: boolean;
  enabled: boolean;
  hasKeyboard: boolean;
  hasMouse: boolean;
  hasMultitouch: boolean;
  mouseIsAbsolute: boolean;
  touchMaxSlots: number;
  /** The VM has audio: the connection carries an Opus track (muted in the page until a click). */
  hasAudio: boolean;
  /** Capture announced it recently (it republishes every few seconds while QEMU runs). */
  running: boolean;
  /** Milliseconds since the last announcement. */
  lastSeenMs: number;
}

/** The body of GET /api/consoles. */
export interface ConsoleList {
  role: Role;
  consoles: ConsoleEntry[];
}

// --- the signaling WebSocket (/ws), JSON text ---

/** What the page sends: `auth` first and only first, then the rest. */
export type ClientMessage =
  | { type: 'auth'; token: string }
  | { type: 'watch'; vm: string; console: number; rendition?: string }
  | { type: 'answer'; sdp: string }
  | { type: 'candidate'; candidate: string; mid: string }
  | { type: 'ping'; t: number }
  /**
   * Control viewers that follow the window: the player area in device pixels and its physical size
   * in mm, for QEMU's Console.SetUIInfo (the page debounces it). `resize_stop`: this viewer no
   * longer asks (it keeps the guest's mode). View-only viewers are refused (`view_only`).
   */
  | { type: 'resize'; width: number; height: number; widthMm: number; heightMm: number }
  | { type: 'resize_stop' }
  /**
   * Opens the VM's serial console on this socket (`chardev`: QEMU's chardev id; default the first):
   * then the server sends its output as binary messages (scrollback first), and a control viewer's
   * binary messages (at most MAX_SERIAL_INPUT_BYTES each) are typed into it.
   */
  | { type: 'serial_open'; vm: string; chardev?: string };

/**
 * What became of a viewer's `resize`: `applied` (the console has that size now), `unsupported`
 * (the display device cannot follow: std VGA), `ignored` (the guest kept its mode for a few
 * seconds), `failed` (no answer from QEMU), `other_viewer` (another control viewer sets the size:
 * the one that last sent input; signaling's README).
 */
export type ResizeOutcome = 'applied' | 'unsupported' | 'ignored' | 'failed' | 'other_viewer';

/** What signaling sends. */
export type ServerMessage =
  | { type: 'hello'; role: Role; iceServers: BrowserIceServer[] }
  | { type: 'console'; console: ConsoleEntry }
  | { type: 'offer'; sdp: string; viewerId: string }
  | { type: 'candidate'; candidate: string; mid: string }
  | { type: 'state'; state: string }
  /** The link moved the viewer to another rendition. */
  | { type: 'rendition'; rendition: string }
  | { type: 'pong'; t: number; serverUs: number }
  /** The outcome of this viewer's `resize` (sizes as asked after clamping, and the console's). */
  | {
      type: 'resize';
      outcome: ResizeOutcome;
      width: number;
      height: number;
      consoleWidth: number;
      consoleHeight: number;
    }
  | { type: 'closed'; reason: string }
  | { type: 'error'; code: ErrorCode; message: string; fatal: boolean }
  /** The serial console this socket opened: on open and whenever it changes. */
  | { type: 'serial'; serial: SerialStatus };

/** A serial console as the page shows it. */
export interface SerialStatus {
  vm: string;
  /** QEMU's chardev id; '' while none is known yet. */
  chardev: string;
  /** QEMU's Name for it, e.g. org.qemu.console.serial.0. */
  name: string;
  /** The input service holds QEMU's stream: typed bytes reach the guest. */
  connected: boolean;
  /** Why not, in words ('' when connected). */
  problem: string;
  /** Output this page missed for good (it fell out of the scrollback before it could be sent). */
  lostBytes: number;
  /** Typed bytes the guest side refused so far (nobody reading, or its queue full). */
  inputDropped: number;
}

// --- the "input" DataChannel, JSON text, one object per message ---

export type TouchPhase = (typeof TOUCH_PHASES)[number];

/** What the page sends on "input"; `ts` is the client's clock (ms) when the event happened. */
export type InputMessage =
  | { t: 'key'; code: string; down: boolean; ts?: number }
  | { t: 'move'; x: number; y: number; ts?: number }
  | { t: 'rel'; dx: number; dy: number; ts?: number }
  | { t: 'button'; button: number; down: boolean; ts?: number }
  | { t: 'wheel'; dx: number; dy: number; ts?: number }
  | { t: 'touch'; slot: number; phase: TouchPhase; x: number; y: number; ts?: number }
  | { t: 'release'; ts?: number };

/** What signaling sends back on "input": a refusal (throttled per code). */
export interface InputErrorMessage {
  type: 'error';
  code: InputRefusal;
  message: string;
}

// The "cursor" DataChannel is binary (signaling's README describes its layout).

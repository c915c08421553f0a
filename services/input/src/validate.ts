import {
  MAX_INPUT_COORD,
  MAX_INPUT_REL_DELTA,
  MAX_INPUT_TOUCH_SLOT,
  MAX_INPUT_WHEEL_DELTA,
  clampUiInfo,
  isSubjectToken,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { qemuButtonOf, type QemuButton } from './buttons.js';
import { qnumOf } from './keymap.js';

const { InputEvent, TouchPhase } = qemu_webrtc.v1;

/** Why an event was not applied: the `reason` label of input_events_dropped_total. */
export type DropReason =
  | 'undecodable'
  | 'empty'
  | 'ambiguous'
  | 'bad_vm_id'
  | 'subject_mismatch'
  | 'unknown_vm'
  | 'bad_console'
  | 'bad_viewer'
  | 'bad_sequence'
  | 'unknown_code'
  | 'bad_button'
  | 'bad_number'
  | 'out_of_range'
  | 'bad_touch'
  | 'stale_sequence'
  | 'rate_limited'
  | 'too_many_viewers'
  | 'vm_unavailable'
  | 'unknown_console'
  | 'no_console_size'
  | 'no_touch'
  | 'touch_slots_full'
  | 'touch_not_active'
  | 'backlog';

// The bounds (shared with signaling, packages/common/src/input-limits.ts): positions beyond
// MAX_INPUT_COORD (either sign) are absurd, not a pointer just off the console (that is clamped).
const MAX_VIEWER_ID = 128;
const VIEWER_ID = /^[A-Za-z0-9_-]+$/;
const MAX_CONSOLE_ID = 0xffff;

export type TouchPhaseName = 'begin' | 'update' | 'end' | 'cancel';

export type Action =
  | { kind: 'key'; code: string; qnum: number; down: boolean }
  | { kind: 'move'; x: number; y: number }
  | { kind: 'relative'; dx: number; dy: number }
  | { kind: 'button'; button: QemuButton; down: boolean }
  | { kind: 'wheel'; dx: number; dy: number }
  | { kind: 'touch'; slot: number; phase: TouchPhaseName; x: number; y: number }
  | { kind: 'releaseAll' }
  /** Console.SetUIInfo: sizes held within input-limits.ts's UI_INFO bounds. */
  | { kind: 'uiInfo'; width: number; height: number; widthMm: number; heightMm: number };

export type ActionKind = Action['kind'];

export interface ValidEvent {
  vmId: string;
  consoleId: number;
  viewerId: string;
  sequence: number;
  /** When signaling received it (µs, wall clock); 0 when unknown. */
  receivedUs: number;
  action: Action;
}

export type Validation = { ok: true; event: ValidEvent } | { ok: false; reason: DropReason; vmId?: string };

const ONEOF = ['key', 'move', 'relative', 'button', 'wheel', 'touch', 'releaseAll', 'uiInfo'] as const;

/**
 * Decodes and checks one InputEvent from the wire. Nothing here knows the VM: its existence, its
 * consoles and their sizes are checked where the event is applied.
 */
export function decodeInputEvent(data: Uint8Array, subjectVmId: string | undefined): Validation {
  let ev: qemu_webrtc.v1.InputEvent;
  try {
    ev = InputEvent.decode(data);
  } catch {
    return { ok: false, reason: 'undecodable' };
  }
  return validateInputEvent(ev, subjectVmId);
}

export function validateInputEvent(
  ev: qemu_webrtc.v1.IInputEvent,
  subjectVmId: string | undefined,
): Validation {
  const vmId = ev.vmId ?? '';
  if (!isSubjectToken(vmId)) return { ok: false, reason: 'bad_vm_id' };
  if (subjectVmId !== undefined && subjectVmId !== vmId) return { ok: false, reason: 'subject_mismatch' };
  const fail = (reason: DropReason): Validation => ({ ok: false, reason, vmId });
  const consoleId = ev.consoleId ?? 0;
  if (!Number.isInteger(consoleId) || consoleId < 0 || consoleId > MAX_CONSOLE_ID) return fail('bad_console');
  const viewerId = ev.viewerId ?? '';
  // Signaling's viewer ids are subject tokens; anything else (a newline could make one viewer's
  // touch keys look like another's) is not from signaling.
  if (viewerId.length > MAX_VIEWER_ID || !VIEWER_ID.test(viewerId)) return fail('bad_viewer');
  const sequence = ev.sequence ?? 0;
  if (!Number.isSafeInteger(sequence) || sequence < 0) return fail('bad_sequence');
  const receivedUs = ev.receivedUs ?? 0;
  const present = ONEOF.filter((k) => ev[k] !== undefined && ev[k] !== null);
  if (present.length === 0) return fail('empty');
  if (present.length > 1) return fail('ambiguous');
  const action = toAction(ev);
  if (typeof action === 'string') return fail(action);
  return {
    ok: true,
    event: {
      vmId,
      consoleId,
      viewerId,
      sequence,
      receivedUs: Number.isSafeInteger(receivedUs) && receivedUs > 0 ? receivedUs : 0,
      action,
    },
  };
}

function finite(...values: (number | null | undefined)[]): boolean {
  return values.every((v) => v === undefined || v === null || Number.isFinite(v));
}

function within(limit: number, ...values: number[]): boolean {
  return values.every((v) => Math.abs(v) <= limit);
}

function toAction(ev: qemu_webrtc.v1.IInputEvent): Action | DropReason {
  if (ev.key) {
    const code = ev.key.code ?? '';
    const qnum = code.length <= 64 ? qnumOf(code) : undefined;
    if (qnum === undefined) return 'unknown_code';
    return { kind: 'key', code, qnum, down: ev.key.down === true };
  }
  if (ev.move) {
    const { x, y } = ev.move;
    if (!finite(x, y)) return 'bad_number';
    const px = x ?? 0;
    const py = y ?? 0;
    if (!within(MAX_INPUT_COORD, px, py)) return 'out_of_range';
    return { kind: 'move', x: px, y: py };
  }
  if (ev.relative) {
    const { dx, dy } = ev.relative;
    if (!finite(dx, dy)) return 'bad_number';
    const rx = dx ?? 0;
    const ry = dy ?? 0;
    if (!within(MAX_INPUT_REL_DELTA, rx, ry)) return 'out_of_range';
    return { kind: 'relative', dx: rx, dy: ry };
  }
  if (ev.button) {
    const button = qemuButtonOf(ev.button.button ?? 0);
    if (button === undefined) return 'bad_button';
    return { kind: 'button', button, down: ev.button.down === true };
  }
  if (ev.wheel) {
    const { dx, dy } = ev.wheel;
    if (!finite(dx, dy)) return 'bad_number';
    const wx = dx ?? 0;
    const wy = dy ?? 0;
    if (!within(MAX_INPUT_WHEEL_DELTA, wx, wy)) return 'out_of_range';
    return { kind: 'wheel', dx: wx, dy: wy };
  }
  if (ev.touch) {
    const { slot, x, y } = ev.touch;
    const name = touchPhaseName(ev.touch.phase ?? TouchPhase.TOUCH_PHASE_UNSPECIFIED);
    const s = slot ?? 0;
    if (name === undefined || !Number.isInteger(s) || s < 0 || s > MAX_INPUT_TOUCH_SLOT) return 'bad_touch';
    if (!finite(x, y)) return 'bad_number';
    const tx = x ?? 0;
    const ty = y ?? 0;
    if (!within(MAX_INPUT_COORD, tx, ty)) return 'out_of_range';
    return { kind: 'touch', slot: s, phase: name, x: tx, y: ty };
  }
  if (ev.uiInfo) {
    const { width, height, widthMm, heightMm } = ev.uiInfo;
    if (!finite(width, height, widthMm, heightMm)) return 'bad_number';
    const w = width ?? 0;
    const h = height ?? 0;
    const wmm = widthMm ?? 0;
    const hmm = heightMm ?? 0;
    // Absurd values are refused; plausible ones are held within QEMU-safe bounds.
    if (!within(MAX_INPUT_COORD, w, h, wmm, hmm) || w === 0 || h === 0) return 'out_of_range';
    return { kind: 'uiInfo', ...clampUiInfo({ width: w, height: h, widthMm: wmm, heightMm: hmm }) };
  }
  return { kind: 'releaseAll' };
}

function touchPhaseName(phase: qemu_webrtc.v1.TouchPhase): TouchPhaseName | undefined {
  switch (phase) {
    case TouchPhase.TOUCH_PHASE_BEGIN:
      return 'begin';
    case TouchPhase.TOUCH_PHASE_UPDATE:
      return 'update';
    case TouchPhase.TOUCH_PHASE_END:
      return 'end';
    case TouchPhase.TOUCH_PHASE_CANCEL:
      return 'cancel';
    default:
      return undefined;
  }
}

/** True for actions that only let go of something (never rate-limited or dropped for backlog). */
export function isRelease(action: Action): boolean {
  switch (action.kind) {
    case 'key':
    case 'button':
      return !action.down;
    case 'touch':
      return action.phase === 'end' || action.phase === 'cancel';
    case 'releaseAll':
      return true;
    default:
      return false;
  }
}

import {
  KEY_CODE_PATTERN,
  MAX_CLIENT_TIME_MS,
  MAX_INPUT_COORD,
  MAX_INPUT_MESSAGE_BYTES,
  MAX_INPUT_REL_DELTA,
  MAX_INPUT_TOUCH_SLOT,
  MAX_INPUT_WHEEL_DELTA,
  MAX_MOUSE_BUTTON,
  TOUCH_PHASES,
  nowUs,
  z,
  type InputMessage,
  type InputRefusal,
  type Role,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { HeldInput } from './held-input.js';
import { TokenBucket } from './rate-limit.js';
import type { Holds, SameType } from './ws-protocol.js';

const { TouchPhase } = qemu_webrtc.v1;

/** Coalesced motion of one viewer is published at most this often (latest wins meanwhile). */
export const MOTION_INTERVAL_MS = 5;

const coord = z.number().min(0).max(MAX_INPUT_COORD);
const relDelta = z.number().min(-MAX_INPUT_REL_DELTA).max(MAX_INPUT_REL_DELTA);
const wheelDelta = z.number().min(-MAX_INPUT_WHEEL_DELTA).max(MAX_INPUT_WHEEL_DELTA);
const ts = z.number().min(0).max(MAX_CLIENT_TIME_MS).optional();

/** What the page sends on the "input" DataChannel (the browser protocol's InputMessage). */
export const inputMessageSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('key'), code: z.string().regex(KEY_CODE_PATTERN), down: z.boolean(), ts }),
  z.strictObject({ t: z.literal('move'), x: coord, y: coord, ts }),
  z.strictObject({ t: z.literal('rel'), dx: relDelta, dy: relDelta, ts }),
  z.strictObject({
    t: z.literal('button'),
    button: z.number().int().min(0).max(MAX_MOUSE_BUTTON),
    down: z.boolean(),
    ts,
  }),
  z.strictObject({ t: z.literal('wheel'), dx: wheelDelta, dy: wheelDelta, ts }),
  z.strictObject({
    t: z.literal('touch'),
    slot: z.number().int().min(0).max(MAX_INPUT_TOUCH_SLOT),
    phase: z.enum(TOUCH_PHASES),
    x: coord,
    y: coord,
    ts,
  }),
  z.strictObject({ t: z.literal('release'), ts }),
]);

export type InputSchemaMatches = Holds<SameType<z.infer<typeof inputMessageSchema>, InputMessage>>;

/** `coalesced`: a motion message merged into motion not yet published. */
export type InputResult =
  { ok: true; coalesced: boolean } | { ok: false; reason: InputRefusal; message: string };

type Motion = Extract<InputMessage, { t: 'move' | 'rel' | 'wheel' }>;

const PHASES = {
  begin: TouchPhase.TOUCH_PHASE_BEGIN,
  update: TouchPhase.TOUCH_PHASE_UPDATE,
  end: TouchPhase.TOUCH_PHASE_END,
  cancel: TouchPhase.TOUCH_PHASE_CANCEL,
} as const;

/**
 * One viewer's input: checks role, size and shape of each DataChannel message and publishes it
 * (`publish`) as an InputEvent with the server-assigned viewer id and a per-viewer sequence number.
 *
 * Motion is latest-wins: pointer moves become the newest position, relative moves and wheel deltas
 * are summed (within the shared bounds), and what is pending goes out once the messages at hand are
 * read, at most once per MOTION_INTERVAL_MS. Keys, buttons, touch and release go out at once, right
 * after the motion pending before them (a click lands where the pointer was), and never wait
 * behind motion. The token bucket (`rate`, `burst`) bounds those; motion never takes its tokens,
 * so a flood of moves cannot starve the next key.
 */
export class InputGate {
  private sequence = 0;
  private readonly bucket: TokenBucket;
  private move: Extract<Motion, { t: 'move' }> | undefined;
  private rel: Extract<Motion, { t: 'rel' }> | undefined;
  private wheel: Extract<Motion, { t: 'wheel' }> | undefined;
  private lastMotionMs = -Infinity;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushImmediate: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly held = new HeldInput();

  constructor(
    readonly viewerId: string,
    readonly role: Role,
    readonly vmId: string,
    readonly consoleId: number,
    rate: number,
    burst: number,
    private readonly publish: (event: qemu_webrtc.v1.IInputEvent) => void,
  ) {
    this.bucket = new TokenBucket(rate, burst);
  }

  handle(raw: string | Buffer | ArrayBuffer): InputResult {
    if (this.role !== 'control') {
      return { ok: false, reason: 'view_only', message: 'this token may watch but not control the VM' };
    }
    const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength;
    if (size > MAX_INPUT_MESSAGE_BYTES) {
      return {
        ok: false,
        reason: 'too_large',
        message: `input messages are limited to ${MAX_INPUT_MESSAGE_BYTES} bytes`,
      };
    }
    const text = typeof raw === 'string' ? raw : Buffer.from(raw as ArrayBuffer).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, reason: 'malformed', message: 'input must be a JSON object' };
    }
    const parsed = inputMessageSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        ok: false,
        reason: 'malformed',
        message: `bad input event${issue ? `: ${issue.path.join('.') || '(root)'} ${issue.message}` : ''}`,
      };
    }
    const m = parsed.data;
    if (m.t === 'move' || m.t === 'rel' || m.t === 'wheel') return { ok: true, coalesced: this.merge(m) };
    if (!this.bucket.take()) {
      return { ok: false, reason: 'rate_limited', message: 'too many input events; some were dropped' };
    }
    this.flushMotion();
    if (m.t === 'release') {
      // The page lets go of everything (blur, hidden, leaving): name each held key and button, as
      // on leave, so an input process restarted since the presses lifts them too.
      for (const event of this.releaseAll()) this.publish(event);
      return { ok: true, coalesced: false };
    }
    const event = this.toEvent(m);
    this.held.observe(event);
    this.publish(event);
    return { ok: true, coalesced: false };
  }

  /** Adds motion to what is pending; true when something was pending already (merged). */
  private merge(m: Motion): boolean {
    if (this.closed) return false;
    const merged = this.move !== undefined || this.rel !== undefined || this.wheel !== undefined;
    switch (m.t) {
      case 'move':
        this.move = m;
        break;
      case 'rel':
        this.rel = this.rel ? { ...m, dx: this.rel.dx + m.dx, dy: this.rel.dy + m.dy } : m;
        break;
      case 'wheel':
        this.wheel = this.wheel ? { ...m, dx: this.wheel.dx + m.dx, dy: this.wheel.dy + m.dy } : m;
        break;
    }
    this.scheduleMotion();
    return merged;
  }

  private scheduleMotion(): void {
    if (this.flushTimer !== undefined || this.flushImmediate !== undefined) return;
    const wait = this.lastMotionMs + MOTION_INTERVAL_MS - performance.now();
    // After the messages already delivered are read (they merge), or when the interval is up.
    if (wait <= 0) {
      this.flushImmediate = setImmediate(() => {
        this.flushImmediate = undefined;
        this.flushMotion();
      });
    } else {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.flushMotion();
      }, wait);
    }
  }

  /** Publishes pending motion now: the position, then relative motion, then the wheel. */
  private flushMotion(): void {
    clearTimeout(this.flushTimer);
    clearImmediate(this.flushImmediate);
    this.flushTimer = this.flushImmediate = undefined;
    const { move, rel, wheel } = this;
    this.move = this.rel = this.wheel = undefined;
    if (!move && !rel && !wheel) return;
    this.lastMotionMs = performance.now();
    if (move) this.publish(this.toEvent(move));
    if (rel) this.publish(this.toEvent(clampSum(rel, MAX_INPUT_REL_DELTA)));
    if (wheel) this.publish(this.toEvent(clampSum(wheel, MAX_INPUT_WHEEL_DELTA)));
  }

  /** The InputEvent carrying this viewer's SetUIInfo hint (sizes already clamped). */
  uiInfo(hint: {
    width: number;
    height: number;
    widthMm: number;
    heightMm: number;
  }): qemu_webrtc.v1.IInputEvent {
    return this.base(undefined, { uiInfo: hint });
  }

  /** Drops pending motion and stops (the viewer left). */
  close(): void {
    this.closed = true;
    clearTimeout(this.flushTimer);
    clearImmediate(this.flushImmediate);
    this.flushTimer = this.flushImmediate = undefined;
    this.move = this.rel = this.wheel = undefined;
  }

  /**
   * The events that let go of every key and button this viewer holds (on leave): each held key and
   * button by name, then release_all, so an input process restarted since the press lifts them too.
   */
  releaseAll(): qemu_webrtc.v1.IInputEvent[] {
    return this.held.releases().map((body) => this.base(undefined, body));
  }

  private base(
    clientTimeMs: number | undefined,
    body: Partial<qemu_webrtc.v1.IInputEvent>,
  ): qemu_webrtc.v1.IInputEvent {
    return {
      vmId: this.vmId,
      consoleId: this.consoleId,
      viewerId: this.viewerId,
      sequence: ++this.sequence,
      clientTimeMs: clientTimeMs ?? 0,
      receivedUs: nowUs(),
      ...body,
    };
  }

  private toEvent(m: InputMessage): qemu_webrtc.v1.IInputEvent {
    switch (m.t) {
      case 'key':
        return this.base(m.ts, { key: { code: m.code, down: m.down } });
      case 'move':
        return this.base(m.ts, { move: { x: m.x, y: m.y } });
      case 'rel':
        return this.base(m.ts, { relative: { dx: m.dx, dy: m.dy } });
      case 'button':
        return this.base(m.ts, { button: { button: m.button, down: m.down } });
      case 'wheel':
        return this.base(m.ts, { wheel: { dx: m.dx, dy: m.dy } });
      case 'touch':
        return this.base(m.ts, { touch: { slot: m.slot, phase: PHASES[m.phase], x: m.x, y: m.y } });
      case 'release':
        return this.base(m.ts, { releaseAll: {} });
    }
  }
}

/** Summed deltas beyond the shared bound are held at it (more than that in 5 ms is absurd). */
function clampSum<M extends { dx: number; dy: number }>(m: M, limit: number): M {
  const c = (v: number): number => Math.max(-limit, Math.min(limit, v));
  return { ...m, dx: c(m.dx), dy: c(m.dy) };
}

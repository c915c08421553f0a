import { nowUs, z } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { Role } from './auth.js';
import { HeldInput } from './held-input.js';
import { TokenBucket } from './rate-limit.js';

const { TouchPhase } = qemu_webrtc.v1;

/** An input message larger than this is refused unread. */
export const MAX_INPUT_MESSAGE_BYTES = 512;

const coord = z.number().min(0).max(65535);
const delta = z.number().min(-100_000).max(100_000);
const ts = z.number().min(0).max(1e15).optional();

/** What the page sends on the "input" DataChannel, one JSON object per message. */
export const inputMessageSchema = z.discriminatedUnion('t', [
  z.strictObject({
    t: z.literal('key'),
    code: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,31}$/),
    down: z.boolean(),
    ts,
  }),
  z.strictObject({ t: z.literal('move'), x: coord, y: coord, ts }),
  z.strictObject({ t: z.literal('rel'), dx: delta, dy: delta, ts }),
  z.strictObject({ t: z.literal('button'), button: z.number().int().min(0).max(4), down: z.boolean(), ts }),
  z.strictObject({ t: z.literal('wheel'), dx: delta, dy: delta, ts }),
  z.strictObject({
    t: z.literal('touch'),
    slot: z.number().int().min(0).max(31),
    phase: z.enum(['begin', 'update', 'end', 'cancel']),
    x: coord,
    y: coord,
    ts,
  }),
  z.strictObject({ t: z.literal('release'), ts }),
]);

export type InputMessage = z.infer<typeof inputMessageSchema>;

export type InputRefusal = 'view_only' | 'too_large' | 'malformed' | 'rate_limited';

export type InputResult =
  { ok: true; event: qemu_webrtc.v1.IInputEvent } | { ok: false; reason: InputRefusal; message: string };

const PHASES = {
  begin: TouchPhase.TOUCH_PHASE_BEGIN,
  update: TouchPhase.TOUCH_PHASE_UPDATE,
  end: TouchPhase.TOUCH_PHASE_END,
  cancel: TouchPhase.TOUCH_PHASE_CANCEL,
} as const;

/**
 * One viewer's input: checks role, size, shape and rate of each DataChannel message and turns it
 * into an InputEvent with the server-assigned viewer id and a per-viewer sequence number.
 */
export class InputGate {
  private sequence = 0;
  private readonly bucket: TokenBucket;
  private readonly held = new HeldInput();

  constructor(
    readonly viewerId: string,
    readonly role: Role,
    readonly vmId: string,
    readonly consoleId: number,
    rate: number,
    burst: number,
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
    if (!this.bucket.take()) {
      return { ok: false, reason: 'rate_limited', message: 'too many input events; some were dropped' };
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
    const event = this.toEvent(parsed.data);
    this.held.observe(event);
    return { ok: true, event };
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

import {
  bodyMatchesConsoleSubject,
  cursorOfSubject,
  subjects,
  type BadInputLog,
  type NatsConnection,
  type Subscription,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { SignalingMetrics } from './metrics.js';

const { CursorShape, CursorPosition } = qemu_webrtc.v1;

/** Cursor messages on the "cursor" DataChannel (binary, little-endian). */
export const CURSOR_SHAPE = 1;
export const CURSOR_POSITION = 2;
/** Larger cursor images are not forwarded (a DataChannel message must stay well under 256 KiB). */
export const MAX_CURSOR_PIXELS = 128 * 128;
/** A cursor position further out than this (console pixels) is nonsense: dropped. */
const MAX_CURSOR_COORD = 65_535;

/**
 * Shape: u8 type=1, u8 0, u16 width, u16 height, i16 hotX, i16 hotY, u32 serial, then
 * width*height*4 bytes RGBA (straight alpha), rows top to bottom.
 */
export function encodeCursorShape(shape: qemu_webrtc.v1.CursorShape): Buffer | undefined {
  const { width, height } = shape;
  const n = width * height;
  if (width < 1 || height < 1 || n > MAX_CURSOR_PIXELS || shape.pixels.byteLength < n * 4) return undefined;
  const out = Buffer.allocUnsafe(16 + n * 4);
  out.writeUInt8(CURSOR_SHAPE, 0);
  out.writeUInt8(0, 1);
  out.writeUInt16LE(width, 2);
  out.writeUInt16LE(height, 4);
  out.writeInt16LE(Math.max(-32768, Math.min(32767, shape.hotX)), 6);
  out.writeInt16LE(Math.max(-32768, Math.min(32767, shape.hotY)), 8);
  out.writeUInt16LE(0, 10);
  out.writeUInt32LE(shape.serial >>> 0, 12);
  // QEMU's ARGB32 little-endian is B,G,R,A in memory: swap to R,G,B,A for ImageData.
  const src = shape.pixels;
  for (let i = 0, o = 16; i < n * 4; i += 4, o += 4) {
    out[o] = src[i + 2] ?? 0;
    out[o + 1] = src[i + 1] ?? 0;
    out[o + 2] = src[i] ?? 0;
    out[o + 3] = src[i + 3] ?? 0;
  }
  return out;
}

/** Position: u8 type=2, u8 visible, u16 0, i32 x, i32 y (console pixels). */
export function encodeCursorPosition(pos: qemu_webrtc.v1.CursorPosition): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt8(CURSOR_POSITION, 0);
  out.writeUInt8(pos.visible ? 1 : 0, 1);
  out.writeInt32LE(pos.x | 0, 4);
  out.writeInt32LE(pos.y | 0, 8);
  return out;
}

export interface CursorSink {
  readonly id: string;
  sendCursor(message: Buffer): void;
}

interface ConsoleCursor {
  sub: Subscription;
  sinks: Map<string, CursorSink>;
  shape: Buffer | undefined;
  position: Buffer | undefined;
}

/** One subscription per watched console forwards cursor shape and position to its viewers. */
export class CursorHub {
  private readonly consoles = new Map<string, ConsoleCursor>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly metrics: SignalingMetrics,
    private readonly badInput: BadInputLog,
  ) {}

  attach(vmId: string, consoleId: number, sink: CursorSink): () => void {
    const key = `${vmId}.${consoleId}`;
    let c = this.consoles.get(key);
    if (!c) {
      const entry: ConsoleCursor = {
        sub: this.nc.subscribe(subjects.cursorAll(vmId, consoleId), {
          callback: (err, msg) => {
            if (!err) this.onMessage(entry, msg.subject, msg.data);
          },
        }),
        sinks: new Map(),
        shape: undefined,
        position: undefined,
      };
      c = entry;
      this.consoles.set(key, c);
    }
    c.sinks.set(sink.id, sink);
    const current = c;
    return () => {
      current.sinks.delete(sink.id);
      if (current.sinks.size === 0 && this.consoles.get(key) === current) {
        current.sub.unsubscribe();
        this.consoles.delete(key);
      }
    };
  }

  /** What a newly opened cursor channel needs: the current shape, then position. */
  current(vmId: string, consoleId: number): Buffer[] {
    const c = this.consoles.get(`${vmId}.${consoleId}`);
    return [c?.shape, c?.position].filter((b): b is Buffer => b !== undefined);
  }

  private onMessage(c: ConsoleCursor, subject: string, data: Uint8Array): void {
    let out: Buffer | undefined;
    const kind = cursorOfSubject(subject)?.kind;
    try {
      if (kind === 'shape') {
        const shape = CursorShape.decode(data);
        if (!bodyMatchesConsoleSubject(subject, shape)) {
          this.reject('cursor_subject_mismatch');
          return;
        }
        if (shape.hotX < 0 || shape.hotY < 0 || shape.hotX >= shape.width || shape.hotY >= shape.height) {
          this.reject('bad_cursor_hotspot');
          return;
        }
        out = encodeCursorShape(shape);
        if (!out) {
          this.reject('cursor_too_large');
          return;
        }
        c.shape = out;
      } else if (kind === 'position') {
        const pos = CursorPosition.decode(data);
        if (!bodyMatchesConsoleSubject(subject, pos)) {
          this.reject('cursor_subject_mismatch');
          return;
        }
        // QEMU's positions are console pixels (the hot spot may sit a little outside).
        if (Math.abs(pos.x) > MAX_CURSOR_COORD || Math.abs(pos.y) > MAX_CURSOR_COORD) {
          this.reject('bad_cursor_position');
          return;
        }
        out = encodeCursorPosition(pos);
        c.position = out;
      } else {
        return;
      }
    } catch (error) {
      this.metrics.rejected.inc({ reason: 'bad_cursor_message' });
      this.badInput.warn('bad_cursor_message', { subject, err: error }, 'undecodable cursor message');
      return;
    }
    for (const sink of c.sinks.values()) sink.sendCursor(out);
  }

  /** Drops a cursor message that came on the bus, counted by reason. */
  private reject(reason: string): void {
    this.metrics.rejected.inc({ reason });
  }

  close(): void {
    for (const c of this.consoles.values()) c.sub.unsubscribe();
    this.consoles.clear();
  }
}

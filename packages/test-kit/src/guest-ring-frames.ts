// Every FrameReady capture publishes, with the test guest's status decoded from its ring slot the
// moment the message arrives (the ring has a few slots: a slot read later may be overwritten).
import { join } from 'node:path';
import type { NatsConnection, Subscription } from 'nats';
import { subjects } from '@qemu-webrtc/common';
import { FrameRingReader } from '@qemu-webrtc/frame-ring';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { isWholeFrame } from './guest-pattern.js';
import { readGuestStatus, type GuestScreenImage, type GuestStatus } from './guest-screen.js';

const { FrameReady } = qemu_webrtc.v1;

export interface GuestRingFrame {
  ready: qemu_webrtc.v1.FrameReady;
  /** performance.now() when the FrameReady arrived. */
  receivedMs: number;
  /** null: no guest status on the frame; undefined: the slot was overwritten before it was read. */
  status: GuestStatus | null | undefined;
  /**
   * Whether the slot held one whole guest frame (the pattern at its top and bottom shows the frame
   * the counter says); null: not checkable; undefined: no status.
   */
  whole?: boolean | null;
}

export class GuestRingFrames {
  readonly frames: GuestRingFrame[] = [];
  private readers = new Map<string, FrameRingReader>();
  private readonly sub: Subscription;

  /** Subscribes to every FrameReady; flush `nc` before relying on it. */
  constructor(
    nc: NatsConnection,
    private readonly ringDir: string,
  ) {
    this.sub = nc.subscribe(subjects.frameReadyAll, {
      callback: (_err, msg) => {
        const receivedMs = performance.now();
        const ready = FrameReady.decode(msg.data);
        this.frames.push({ ready, receivedMs, ...this.decode(ready) });
      },
    });
  }

  private reader(ringName: string): FrameRingReader {
    let r = this.readers.get(ringName);
    if (!r) {
      for (const old of this.readers.values()) old.close(); // a new ring replaces the old one
      this.readers = new Map();
      r = FrameRingReader.open(join(this.ringDir, ringName));
      this.readers.set(ringName, r);
    }
    return r;
  }

  private decode(ready: qemu_webrtc.v1.FrameReady): Pick<GuestRingFrame, 'status' | 'whole'> {
    try {
      const reader = this.reader(ready.ringName);
      const slot = reader.read(ready.slot, ready.sequence);
      if (!slot) return { status: undefined };
      const image: GuestScreenImage = {
        data: slot.pixels,
        width: slot.width,
        height: slot.height,
        stride: slot.stride,
        layout: 'bgrx',
      };
      const status = readGuestStatus(image);
      const whole = status ? isWholeFrame(image, status.frame) : undefined;
      return reader.stillValid(ready.slot, ready.sequence) ? { status, whole } : { status: undefined };
    } catch {
      return { status: undefined }; // the ring went away (capture made a new one for a new size)
    }
  }

  /** A private copy of a frame's slot; undefined when it was overwritten meanwhile. */
  image(frame: GuestRingFrame): GuestScreenImage | undefined {
    const { ready } = frame;
    const reader = this.reader(ready.ringName);
    const slot = reader.read(ready.slot, ready.sequence);
    if (!slot) return undefined;
    const data = new Uint8Array(slot.pixels);
    if (!reader.stillValid(ready.slot, ready.sequence)) return undefined;
    return { data, width: slot.width, height: slot.height, stride: slot.stride, layout: 'bgrx' };
  }

  close(): void {
    this.sub.unsubscribe();
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
  }
}

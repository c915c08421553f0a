// Shared by the encoder's pipeline tests: real nats-server, dbus-daemon, QEMU with the test guest,
// capture in-process, and a record of every FrameReady (with a copy of its pixels) and EncodedFrame.
// The test stands where a viewer would: it demands every stream its encoders make (StreamDemand).
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { createLogger, DemandLeases, readConfig, subjects } from '@qemu-webrtc/common';
import { FrameRingReader } from '@qemu-webrtc/frame-ring';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { DbusDaemon, NatsServer, QemuVm, TempDir } from '@qemu-webrtc/test-kit';
import { captureConfigShape } from '@qemu-webrtc/capture/config';
import { CaptureService } from '@qemu-webrtc/capture/service';
import { encoderConfigShape } from '@qemu-webrtc/encoder/config';
import { EncoderService } from '@qemu-webrtc/encoder/service';
import { startBusAndNats } from '../../harness/bus-and-nats.js';

const { FrameReady, EncodedFrame } = qemu_webrtc.v1;

export interface After {
  after: (fn: () => unknown) => void;
}

export interface SourceFrame {
  sequence: number;
  width: number;
  height: number;
  stride: number;
  pixels: Uint8Array;
}

export class Pipeline {
  readonly sources = new Map<number, SourceFrame>();
  readonly encoded: qemu_webrtc.v1.EncodedFrame[] = [];
  /** The test's demand for the streams of the encoders it starts (a consumer, as signaling is). */
  private demand: DemandLeases | undefined;

  private constructor(
    readonly dir: TempDir,
    readonly bus: DbusDaemon,
    readonly nats: NatsServer,
    readonly nc: NatsConnection,
    readonly vm: QemuVm,
    readonly capture: CaptureService,
  ) {}

  static async start(
    t: After,
    opts: { width: number; height: number; captureFps?: number },
  ): Promise<Pipeline> {
    const { dir, bus, nats, nc } = await startBusAndNats((fn) => t.after(fn));
    const vm = await QemuVm.start(dir, { busAddress: bus.address, width: opts.width, height: opts.height });
    t.after(() => vm.stop());
    const capture = await CaptureService.create(
      readConfig(captureConfigShape, {
        NATS_URL: nats.url,
        DBUS_ADDRESS: bus.address,
        RING_DIR: dir.path,
        RING_SLOTS: '6',
        METRICS_PORT: '0',
        VM_ID: 'test-vm',
        CAPTURE_MAX_FPS: String(opts.captureFps ?? 20),
      }),
      createLogger('capture', process.env.LOG_LEVEL ?? 'silent'),
    );
    t.after(() => capture.destroy());
    const p = new Pipeline(dir, bus, nats, nc, vm, capture);
    p.demand = new DemandLeases(nc, 'pipeline-test');
    t.after(() => p.demand?.close());
    const frames = nc.subscribe(subjects.frameReadyAll);
    void (async () => {
      for await (const m of frames) {
        try {
          p.keepSource(FrameReady.decode(m.data));
        } catch {
          // not a FrameReady (bad-input tests publish garbage on purpose)
        }
      }
    })();
    const aus = nc.subscribe('qw.stream.>');
    void (async () => {
      for await (const m of aus) if (m.subject.endsWith('.au')) p.encoded.push(EncodedFrame.decode(m.data));
    })();
    await nc.flush();
    await capture.start();
    return p;
  }

  /** Copies each new frame out of the ring (while its slot is valid) to compare decoded video with. */
  private keepSource(f: qemu_webrtc.v1.FrameReady): void {
    try {
      const reader = FrameRingReader.open(join(this.dir.path, f.ringName));
      const slot = reader.read(f.slot, f.sequence);
      if (slot) {
        const pixels = new Uint8Array(slot.pixels);
        if (reader.stillValid(f.slot, f.sequence)) {
          this.sources.set(f.sequence, {
            sequence: f.sequence,
            width: slot.width,
            height: slot.height,
            stride: slot.stride,
            pixels,
          });
        }
      }
      reader.close();
      for (const seq of this.sources.keys()) if (seq < f.sequence - 60) this.sources.delete(seq);
    } catch {
      // ring replaced under us (resize): the next frame will do
    }
  }

  /** Demands the test VM's console 0 at every rendition these encoder settings make. */
  private want(env: Record<string, string>): void {
    const { ENCODER_RENDITIONS } = readConfig(encoderConfigShape, { NATS_URL: this.nats.url, ...env });
    for (const r of ENCODER_RENDITIONS)
      this.demand?.want({ vmId: 'test-vm', consoleId: 0, rendition: r.name });
  }

  async startEncoder(t: After, env: Record<string, string> = {}): Promise<EncoderService> {
    const config = readConfig(encoderConfigShape, {
      NATS_URL: this.nats.url,
      RING_DIR: this.dir.path,
      METRICS_PORT: '0',
      MEMBER_TIMEOUT_MS: '600',
      ...env,
    });
    this.want(env);
    const encoder = await EncoderService.create(
      config,
      createLogger('encoder', process.env.LOG_LEVEL ?? 'silent'),
    );
    t.after(() => encoder.destroy());
    await encoder.start();
    return encoder;
  }

  /** Environment for an encoder run as its own process (node services/encoder/dist/src/main.js). */
  encoderEnv(id: string, extra: Record<string, string> = {}): Record<string, string> {
    this.want(extra);
    return {
      NATS_URL: this.nats.url,
      RING_DIR: this.dir.path,
      METRICS_PORT: '0',
      ENCODER_ID: id,
      LOG_LEVEL: 'warn',
      ...extra,
    };
  }
}

/** PSNR of BT.709 luma between two 4-byte-per-pixel B,G,R,x images over width x height. */
export function lumaPsnr(
  a: Uint8Array,
  aStride: number,
  b: Uint8Array,
  bStride: number,
  width: number,
  height: number,
): number {
  let se = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * aStride + x * 4;
      const j = y * bStride + x * 4;
      const ya = 0.0722 * (a[i] ?? 0) + 0.7152 * (a[i + 1] ?? 0) + 0.2126 * (a[i + 2] ?? 0);
      const yb = 0.0722 * (b[j] ?? 0) + 0.7152 * (b[j + 1] ?? 0) + 0.2126 * (b[j + 2] ?? 0);
      se += (ya - yb) ** 2;
    }
  }
  const mse = se / (width * height);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

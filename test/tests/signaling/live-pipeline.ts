// The live pipeline for signaling's end-to-end tests (the pattern of the encoder's pipeline
// harness): real nats-server, dbus-daemon, QEMU (TCG) running the test guest, capture and encoder
// in-process, and signaling in front of them. One QEMU per test file.
import { createLogger, readConfig } from '@qemu-webrtc/common';
import { DbusDaemon, NatsServer, QemuVm, TempDir } from '@qemu-webrtc/test-kit';
import { captureConfigShape } from '@qemu-webrtc/capture/config';
import { CaptureService } from '@qemu-webrtc/capture/service';
import { encoderConfigShape } from '@qemu-webrtc/encoder/config';
import { EncoderService } from '@qemu-webrtc/encoder/service';
import { CleanupStack, Signaling, type After } from './harness.js';

export const VM_ID = 'test-vm';

export class LivePipeline {
  private constructor(
    readonly cleanup: CleanupStack,
    readonly vm: QemuVm,
    readonly capture: CaptureService,
    readonly encoder: EncoderService,
    readonly signaling: Signaling,
  ) {}

  static async start(
    t: After,
    opts: {
      width: number;
      height: number;
      captureFps?: number;
      signalingEnv?: Record<string, string>;
      /** ENCODER_RENDITIONS (default one rendition, full:1:2000000). */
      renditions?: string;
    },
  ): Promise<LivePipeline> {
    const cleanup = new CleanupStack(t);
    const dir = new TempDir();
    cleanup.defer(() => dir.remove());
    const nats = await NatsServer.start(dir);
    cleanup.defer(() => nats.stop());
    const bus = await DbusDaemon.start(dir);
    cleanup.defer(() => bus.stop());
    const vm = await QemuVm.start(dir, { busAddress: bus.address, width: opts.width, height: opts.height });
    cleanup.defer(() => vm.stop());
    const level = process.env.LOG_LEVEL ?? 'silent';
    const capture = await CaptureService.create(
      readConfig(captureConfigShape, {
        NATS_URL: nats.url,
        DBUS_ADDRESS: bus.address,
        RING_DIR: dir.path,
        RING_SLOTS: '4',
        METRICS_PORT: '0',
        VM_ID,
        CAPTURE_MAX_FPS: String(opts.captureFps ?? 15),
      }),
      createLogger('capture', level),
    );
    cleanup.defer(() => capture.destroy());
    const encoder = await EncoderService.create(
      readConfig(encoderConfigShape, {
        NATS_URL: nats.url,
        RING_DIR: dir.path,
        METRICS_PORT: '0',
        MEMBER_TIMEOUT_MS: '300',
        ENCODER_RENDITIONS: opts.renditions ?? 'full:1:2000000',
        ENCODER_MAX_FPS: String(opts.captureFps ?? 15),
      }),
      createLogger('encoder', level),
    );
    cleanup.defer(() => encoder.destroy());
    const signaling = await Signaling.start(t, opts.signalingEnv ?? {}, { nats, cleanup });
    await encoder.start();
    await capture.start();
    return new LivePipeline(cleanup, vm, capture, encoder, signaling);
  }

  defer(fn: () => unknown): void {
    this.cleanup.defer(fn);
  }
}

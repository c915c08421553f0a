// The real encoder service (@qemu-webrtc/encoder's main) as its own process, and the encoder
// addon's H.264 decoder for tests that check what comes out.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, freePort } from '@qemu-webrtc/test-kit';
// Types only: the decoder below is the addon loaded by path, not the service's checked wrapper.
import type { DecodedPicture, H264Decoder, H264DecoderConstructor } from '@qemu-webrtc/encoder/native';

export type { DecodedPicture, H264Decoder };

/** The encoder's entry point and native addon, built by `pnpm build`. */
export const encoderMainPath = fileURLToPath(import.meta.resolve('@qemu-webrtc/encoder/main'));
export const encoderAddonPath = fileURLToPath(import.meta.resolve('@qemu-webrtc/encoder/addon'));

/** libavcodec's H.264 decoder (the encoder addon's); 'bgra' converts with the stream's matrix. */
export function createH264Decoder(format: 'bgra' | 'i420' = 'bgra', threads = 1): H264Decoder {
  if (!existsSync(encoderAddonPath))
    throw new Error(`encoder addon not built: ${encoderAddonPath} (run pnpm build)`);
  const addon = createRequire(import.meta.url)(encoderAddonPath) as { H264Decoder: H264DecoderConstructor };
  return new addon.H264Decoder({ format, threads });
}

export interface EncoderProcessOptions {
  natsUrl: string;
  /** Where capture creates its frame rings. */
  ringDir: string;
  /** More environment (ENCODER_RENDITIONS, ENCODER_MAX_FPS, LOG_LEVEL, ...). */
  env?: Record<string, string>;
}

export class EncoderProcess {
  private constructor(readonly process: ManagedProcess) {}

  static async start(opts: EncoderProcessOptions): Promise<EncoderProcess> {
    if (!existsSync(encoderMainPath))
      throw new Error(`encoder not built: ${encoderMainPath} (run pnpm build)`);
    const proc = new ManagedProcess('encoder', process.execPath, [encoderMainPath], {
      env: {
        ...process.env,
        NATS_URL: opts.natsUrl,
        RING_DIR: opts.ringDir,
        METRICS_PORT: String(await freePort()),
        LOG_LEVEL: 'warn',
        ...opts.env,
      },
    });
    return new EncoderProcess(proc);
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

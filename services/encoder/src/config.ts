import { hostname } from 'node:os';
import { commonConfigShape, z } from '@qemu-webrtc/common';
import { parseRenditions } from './renditions.js';

export const encoderConfigShape = {
  ...commonConfigShape,
  /** This encoder's id in heartbeats and EncodedFrame (default: host-pid). */
  ENCODER_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
    .default(
      `${hostname()
        .replace(/[^A-Za-z0-9_-]/g, '-')
        .slice(0, 40)}-${process.pid}`,
    ),
  /** Renditions every console is encoded at: name:scale:bitrate, comma-separated. */
  ENCODER_RENDITIONS: z
    .string()
    .default('full:1:12000000')
    .transform((v, ctx) => {
      try {
        return parseRenditions(v);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
        return z.NEVER;
      }
    }),
  ENCODER_CODEC: z.enum(['libx264', 'h264_vaapi', 'h264_nvenc', 'auto']).default('libx264'),
  ENCODER_PRESET: z
    .enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium'])
    .default('ultrafast'),
  ENCODER_PROFILE: z.enum(['constrained_baseline', 'main', 'high']).default('constrained_baseline'),
  ENCODER_MAX_FPS: z.coerce.number().int().min(1).max(240).default(60),
  /**
   * VBV buffer, in seconds of the bitrate: how far one frame (an IDR, a full-screen change) may
   * exceed the average. Small values cap latency on a saturated link but starve keyframes.
   */
  ENCODER_VBV_SECONDS: z.coerce.number().min(0.01).max(5).default(0.5),
  ENCODER_KEYINT_SECONDS: z.coerce.number().min(1).max(600).default(10),
  ENCODER_VAAPI_DEVICE: z.string().optional(),
  /** Minimum time between two keyframes requested by viewers, per stream. */
  KEYFRAME_MIN_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(500),
  /**
   * How long a held stream keeps being encoded after its last demand lease ended (released by
   * signaling when its last viewer left, or expired): a page reopened within it starts at once.
   */
  DEMAND_LINGER_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  HEARTBEAT_MS: z.coerce.number().int().min(50).max(10_000).default(250),
  /** An encoder not heard from for this long is gone; its streams move to the others. */
  MEMBER_TIMEOUT_MS: z.coerce.number().int().min(200).max(60_000).default(1000),
  /** Opus bitrate of VM audio, bits per second (QEMU's audio is 44.1/48 kHz stereo at most). */
  ENCODER_AUDIO_BITRATE: z.coerce.number().int().min(6000).max(510_000).default(64_000),
  RING_DIR: z.string().default('/dev/shm'),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9102),
};

export type EncoderConfig = z.infer<z.ZodObject<typeof encoderConfigShape>>;

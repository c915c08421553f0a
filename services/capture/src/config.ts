import { commonConfigShape, envBoolean, z } from '@qemu-webrtc/common';

export const captureConfigShape = {
  ...commonConfigShape,
  /** The bus QEMU's -display dbus is on (default: the session bus). */
  DBUS_ADDRESS: z
    .string()
    .min(1)
    .default(process.env.DBUS_SESSION_BUS_ADDRESS ?? 'unix:path=/run/user/0/bus'),
  /** The VM's id in subjects and URLs (default: QEMU's VM name, made subject-safe). */
  VM_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
    .optional(),
  RING_DIR: z.string().default('/dev/shm'),
  RING_SLOTS: z.coerce.number().int().min(2).max(16).default(3),
  CAPTURE_MAX_FPS: z.coerce.number().min(1).max(240).default(60),
  /** Offer Listener.Unix.Map so QEMU 9.2+ shares its framebuffer memory instead of copying. */
  OFFER_UNIX_MAP: envBoolean.default(true),
  /**
   * Seconds QEMU may fall behind on a link carrying inline pixels (QEMU before 9.2 queues them
   * without limit) before capture drops the link and registers again, emptying QEMU's queue; 0: never.
   */
  CAPTURE_MAX_BACKLOG_S: z.coerce.number().min(0).max(3600).default(1),
  /** DRM render node for DMA-BUF import (gl=on); default: Mesa's surfaceless platform. */
  EGL_DEVICE: z.string().optional(),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9101),
};

export type CaptureConfig = z.infer<z.ZodObject<typeof captureConfigShape>>;

import { commonConfigShape, envBoolean, secret, z } from '@qemu-webrtc/common';
import { iceCredentials, parseIceServers } from './ice-servers.js';
import { parseTokens, tokensIn } from './auth.js';

function parsed<T>(parse: (v: string) => T) {
  return (v: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(v);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  };
}

function parsePortRange(v: string): { begin: number; end: number } {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v.trim());
  const begin = Number(m?.[1]);
  const end = Number(m?.[2] ?? m?.[1]);
  if (!m || begin < 1 || end > 65535 || end < begin) {
    throw new Error(`expected PORT or BEGIN-END within 1..65535, got ${JSON.stringify(v)}`);
  }
  return { begin, end };
}

export const signalingConfigShape = {
  ...commonConfigShape,
  /** HTTP(S) + WebSocket port (0 picks a free one). */
  SIGNALING_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /**
   * Viewer tokens: "token:role,token:role" with role "control" (view and control) or "view".
   * Unset: one control token is generated at start and shown with the URL to open, on a terminal
   * only (never logged). Secret: the tokens never reach a log.
   */
  SIGNALING_TOKENS: secret(z.string().transform(parsed(parseTokens)).optional(), tokensIn),
  /** The URL users open, for the start-up message (default: http(s)://HTTP_HOST:port). */
  SIGNALING_PUBLIC_URL: z.url().optional(),
  /**
   * STUN/TURN servers: "stun:host:port,turn:user:pass@host:port?transport=tcp,turns:…". Secret:
   * the TURN passwords never reach a log (viewers get them, as WebRTC needs).
   */
  ICE_SERVERS: secret(z.string().default('').transform(parsed(parseIceServers)), iceCredentials),
  /** Local address the WebRTC (ICE) sockets bind to; host candidates are on it only. */
  ICE_BIND_ADDRESS: z.string().optional(),
  /**
   * The address viewers should use for our UDP ports when they are published 1:1 from a container
   * or sit behind a 1:1 NAT: host candidates are also offered at this address (IPv4 or IPv6).
   */
  ICE_ADVERTISED_ADDRESS: z.union([z.ipv4(), z.ipv6()]).optional(),
  /** UDP port or range for WebRTC, e.g. "40000-40100" (default: any). */
  ICE_PORT_RANGE: z.string().transform(parsed(parsePortRange)).optional(),
  /** Every viewer on one UDP port (the first of ICE_PORT_RANGE): one port to open in a container. */
  ICE_UDP_MUX: envBoolean.default(false),
  /** Optional TLS: certificate and key (PEM files). */
  TLS_CERT: z.string().optional(),
  TLS_KEY: z.string().optional(),
  /** The rendition a viewer gets when it does not ask for one. */
  DEFAULT_RENDITION: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
    .default('full'),
  /** Viewers that do not name a rendition move between the encoders' renditions with their link. */
  ADAPTIVE_RENDITIONS: envBoolean.default(true),
  /** A link struggling this long moves its viewer down (or, on the lowest, lowers the bitrate). */
  ADAPT_DOWN_AFTER_MS: z.coerce.number().int().min(500).max(600_000).default(2000),
  /** A link good this long moves its viewer back up (doubles after each failed try, up to 8x). */
  ADAPT_UP_AFTER_MS: z.coerce.number().int().min(1000).max(3_600_000).default(10_000),
  /** Smoothed packet loss (receiver reports) at which a link is struggling, and below which it is good. */
  LINK_STRUGGLING_LOSS: z.coerce.number().gt(0).max(1).default(0.05),
  LINK_GOOD_LOSS: z.coerce.number().gt(0).max(1).default(0.01),
  /**
   * An encoder not heard from for this long no longer counts as holding its streams (its access
   * units are dropped). Above the encoders' MEMBER_TIMEOUT_MS (1 s by default).
   */
  ENCODER_TIMEOUT_MS: z.coerce.number().int().min(200).max(60_000).default(2000),
  /** The lowest bitrate asked of an encoder, as a fraction of the rendition's own. */
  BITRATE_FLOOR: z.coerce.number().gt(0).max(1).default(0.2),
  MAX_VIEWERS: z.coerce.number().int().min(1).max(10_000).default(200),
  /**
   * WebSockets that have not sent their token yet, at most, at once: more are refused (503 before
   * the upgrade, or closed with 1013). Each waits at most 10 s for its token.
   */
  WS_MAX_UNAUTHENTICATED: z.coerce.number().int().min(1).max(10_000).default(64),
  /** Minimum time between two keyframe requests sent to the encoder of one stream. */
  KEYFRAME_MIN_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(300),
  /** Input events a viewer may send per second (sustained), and in one burst. */
  INPUT_RATE: z.coerce.number().int().min(1).max(100_000).default(500),
  INPUT_BURST: z.coerce.number().int().min(1).max(100_000).default(200),
  /** A console not announced by capture for this long is "not running". */
  CONSOLE_STALE_MS: z.coerce.number().int().min(1000).max(600_000).default(15_000),
  /** Prometheus /metrics and the detailed /health, on a port of their own (not the public one). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9103),
  /** Directory of the browser client (default: this package's web/). */
  WEB_DIR: z.string().optional(),
};

export type SignalingConfig = z.infer<z.ZodObject<typeof signalingConfigShape>>;

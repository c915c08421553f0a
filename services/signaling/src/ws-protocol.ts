import { z } from '@qemu-webrtc/common';
import { MAX_SDP_BYTES } from './sdp.js';

/** A WebSocket text message larger than this is refused (the socket closes above 1 MiB). */
export const MAX_WS_MESSAGE_BYTES = 96 * 1024;
export const WS_HARD_LIMIT_BYTES = 1024 * 1024;

const subjectToken = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only');

/** What the browser client sends. */
export const clientMessageSchema = z.discriminatedUnion('type', [
  /** The first message, and only then: the viewer's token. */
  z.strictObject({ type: z.literal('auth'), token: z.string().max(256) }),
  z.strictObject({
    type: z.literal('watch'),
    vm: subjectToken,
    console: z.number().int().min(0).max(65535),
    rendition: subjectToken.optional(),
  }),
  z.strictObject({ type: z.literal('answer'), sdp: z.string().min(1).max(MAX_SDP_BYTES) }),
  z.strictObject({
    type: z.literal('candidate'),
    candidate: z.string().max(1024),
    mid: z.string().max(64),
  }),
  z.strictObject({ type: z.literal('ping'), t: z.number() }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;

/** Error codes the client may receive; the page explains each. */
export type ErrorCode =
  | 'unauthorized'
  | 'unknown-console'
  | 'vm-not-running'
  | 'bad-message'
  | 'too-large'
  | 'rate-limited'
  | 'already-watching'
  | 'not-watching'
  | 'too-many-viewers'
  | 'negotiation-failed'
  | 'connection-failed'
  | 'view_only'
  | 'too_large'
  | 'malformed'
  | 'rate_limited';

export type ServerMessage =
  | { type: 'hello'; viewerId?: string; role: string; iceServers: unknown[] }
  | { type: 'offer'; sdp: string; viewerId: string }
  | { type: 'candidate'; candidate: string; mid: string }
  | { type: 'console'; console: unknown }
  | { type: 'state'; state: string }
  | { type: 'rendition'; rendition: string }
  | { type: 'closed'; reason: string }
  | { type: 'pong'; t: number; serverUs: number }
  | { type: 'error'; code: string; message: string; fatal: boolean };

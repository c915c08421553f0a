import {
  MAX_CANDIDATE_CHARS,
  MAX_CONSOLE_ID,
  MAX_INPUT_COORD,
  MAX_MID_CHARS,
  MAX_TOKEN_CHARS,
  isSubjectToken,
  z,
  type ClientMessage,
} from '@qemu-webrtc/common';
import { MAX_SDP_BYTES } from './sdp.js';

// The messages, limits and error codes are the browser protocol's (packages/common/src/
// browser-protocol.ts); this file only checks what a page sends against them.

/* eslint-disable @typescript-eslint/no-unnecessary-type-parameters -- the identity trick below */
/**
 * True only when A and B are the same type, by TypeScript's own identity check (mutual
 * assignability would miss an optional field on one side only).
 */
export type SameType<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/* eslint-enable @typescript-eslint/no-unnecessary-type-parameters */
/** A check that fails to compile unless it holds: a schema that drifts from the protocol fails tsc. */
export type Holds<T extends true> = T;

const subjectToken = z.string().refine(isSubjectToken, 'letters, digits, _ and - only (at most 64)');

/** What the browser client sends on the WebSocket. */
export const clientMessageSchema = z.discriminatedUnion('type', [
  /** The first message, and only then: the viewer's token. */
  z.strictObject({ type: z.literal('auth'), token: z.string().max(MAX_TOKEN_CHARS) }),
  z.strictObject({
    type: z.literal('watch'),
    vm: subjectToken,
    console: z.number().int().min(0).max(MAX_CONSOLE_ID),
    rendition: subjectToken.optional(),
  }),
  z.strictObject({ type: z.literal('answer'), sdp: z.string().min(1).max(MAX_SDP_BYTES) }),
  z.strictObject({
    type: z.literal('candidate'),
    candidate: z.string().max(MAX_CANDIDATE_CHARS),
    mid: z.string().max(MAX_MID_CHARS),
  }),
  z.strictObject({ type: z.literal('ping'), t: z.number() }),
  // Sizes beyond these are absurd (refused); plausible ones are clamped to QEMU-safe bounds later.
  z.strictObject({
    type: z.literal('resize'),
    width: z.number().int().min(1).max(MAX_INPUT_COORD),
    height: z.number().int().min(1).max(MAX_INPUT_COORD),
    widthMm: z.number().int().min(0).max(MAX_INPUT_COORD),
    heightMm: z.number().int().min(0).max(MAX_INPUT_COORD),
  }),
  z.strictObject({ type: z.literal('resize_stop') }),
  z.strictObject({ type: z.literal('serial_open'), vm: subjectToken, chardev: subjectToken.optional() }),
]);

export type ClientSchemaMatches = Holds<SameType<z.infer<typeof clientMessageSchema>, ClientMessage>>;

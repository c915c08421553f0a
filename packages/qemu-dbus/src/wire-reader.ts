// Reads binary D-Bus messages from our end of a peer-to-peer link (a usocket with fd passing), as
// PeerLink needs on either side. It uses dbus-next's wire decoding below its public API (through
// dbus-next-internals.ts); dbus-next has no peer-to-peer mode of its own.
import { DBusBuffer, bodyToJs, headerFieldName, headerFieldType } from './dbus-next-internals.js';
import type { FdSocket } from './fd-socket.js';

/** D-Bus message types (dbus specification). */
export const MessageType = { methodCall: 1, methodReturn: 2, error: 3, signal: 4 } as const;
export const FLAG_NO_REPLY_EXPECTED = 0x1;
const LITTLE_ENDIAN = 0x6c; // 'l'
/** Largest message accepted: a 4K RGBX Scanout is 64 MiB; the spec's limit is 128 MiB. */
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

export interface WireMessage {
  type: number;
  flags: number;
  serial: number;
  replySerial: number | undefined;
  path: string;
  interface: string;
  member: string;
  errorName: string;
  signature: string;
  body: unknown[];
  /** The file descriptors this message carries (the receiver owns them). */
  fds: number[];
  /** The message's size on the wire, in bytes. */
  bytes: number;
}

/**
 * Returns a drain function: call it whenever the socket is readable; it hands every complete
 * message to `onMessage`, and calls `onError` (then stops) on a corrupt or oversized message.
 * Each message takes exactly the fds its header declares: the fds of the next message can arrive
 * with the tail of this one. `convertVariants` turns Variants in bodies into plain values.
 */
export function createWireReader(
  socket: Pick<FdSocket, 'read'>,
  onMessage: (message: WireMessage) => void,
  onError: (reason: string, fds: number[]) => void,
  opts: { convertVariants?: boolean } = {},
): () => void {
  let header: Buffer | null = null;
  let failed = false;
  return () => {
    while (!failed) {
      if (header === null) {
        const h = socket.read(16);
        if (!Buffer.isBuffer(h)) return;
        if (h[0] !== LITTLE_ENDIAN) {
          failed = true;
          onError('big-endian or corrupt message header', []);
          return;
        }
        header = h;
      }
      const fieldsLength = header.readUInt32LE(12);
      const total = (((fieldsLength + 7) >> 3) << 3) + header.readUInt32LE(4);
      if (total > MAX_MESSAGE_BYTES) {
        failed = true;
        onError(`a ${total}-byte message, over the limit`, []);
        return;
      }
      const chunk = socket.read(total, 0);
      if (chunk === null || Buffer.isBuffer(chunk) || chunk.data === null) return;
      const h = header;
      header = null;
      let fds: number[] = [];
      let message: WireMessage;
      try {
        const buf = new DBusBuffer(chunk.data, 0, LITTLE_ENDIAN, fds, { ayBuffer: true });
        const raw = buf.readArray(headerFieldType, fieldsLength) as [number, [unknown, [unknown]]][];
        buf.align(3);
        const fields: Record<string, unknown> = {};
        for (const [code, [, [value]]] of raw) {
          const name = headerFieldName[code];
          if (name) fields[name] = value;
        }
        const unixFds = typeof fields.unixFd === 'number' ? fields.unixFd : 0;
        if (unixFds > 0) {
          const taken = socket.read(0, unixFds);
          if (taken === null || Buffer.isBuffer(taken) || taken.fds.length !== unixFds) {
            throw new Error(`the message declares ${unixFds} fds that did not arrive`);
          }
          fds = taken.fds;
          buf.fds = fds;
        }
        const text = (v: unknown): string => (typeof v === 'string' ? v : '');
        const signature = text(fields.signature);
        let body: unknown[] = signature !== '' ? buf.read(signature) : [];
        if (opts.convertVariants === true && signature !== '') {
          body = bodyToJs(signature, body);
        }
        message = {
          type: h[1] ?? 0,
          flags: h[2] ?? 0,
          serial: h.readUInt32LE(8),
          replySerial: typeof fields.replySerial === 'number' ? fields.replySerial : undefined,
          path: text(fields.path),
          interface: text(fields.interface),
          member: text(fields.member),
          errorName: text(fields.errorName),
          signature,
          body,
          fds,
          bytes: 16 + total,
        };
      } catch (error) {
        failed = true;
        onError(`undecodable message: ${String(error)}`, fds);
        return;
      }
      onMessage(message); // outside the try: a handler's own error is not a decoding error
    }
  };
}

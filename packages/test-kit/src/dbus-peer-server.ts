// The server end of a peer-to-peer D-Bus link over a Unix socket, with fd passing: what GDBus does in
// QEMU for a display listener (G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER), minus GLib. It
// authenticates the client (EXTERNAL only), agrees to pass unix fds, then exchanges binary
// little-endian D-Bus messages. It uses dbus-next's wire code below its public API (as capture's
// listener-connection does); dbus-next itself has no server-side handshake.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import {
  FLAG_NO_REPLY_EXPECTED,
  MessageType,
  createWireReader,
  type WireMessage,
} from '@qemu-webrtc/qemu-dbus';

export { MessageType };

const require = createRequire(import.meta.url);

interface USocketInstance extends Duplex {
  supportsUnixFd: boolean;
  read(size?: number, fdSize?: number | null): Buffer | { data: Buffer | null; fds: number[] } | null;
}
type USocketConstructor = new (opts: { fd: number }) => USocketInstance;

const marshallCompat = require('dbus-next/lib/marshall-compat.js') as {
  marshallMessage(msg: object): [Buffer, number[]];
  messageToJsFmt(msg: { signature: string; body: unknown[] }): { body: unknown[] };
};
const { USocket } = require('usocket') as { USocket: USocketConstructor };

const MAX_AUTH_LINE = 16 * 1024;

/** A message as it arrived (body in dbus-next's plain JS form: Variants, objects for a{sv}). */
export type PeerMessage = WireMessage;

export interface OutgoingCall {
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
  /**
   * Bytes of a trailing `ay` argument (the signature ends in "ay", and body holds the arguments
   * before it). Written after the marshalled head without copying or per-byte marshalling:
   * dbus-next marshals `ay` one byte at a time, far too slow for framebuffers.
   */
  tail?: Uint8Array;
}

/** The peer answered a call with a D-Bus error. */
export class DbusErrorReply extends Error {
  override readonly name = 'DbusErrorReply';
  constructor(
    readonly errorName: string,
    text: string,
  ) {
    super(`${errorName}: ${text}`);
  }
}

/** The peer did not answer in time (GDBus' call timeout). */
export class DbusTimeoutError extends Error {
  override readonly name = 'DbusTimeoutError';
}

/** The link closed before the peer answered, or was not usable. */
export class DbusLinkClosedError extends Error {
  override readonly name = 'DbusLinkClosedError';
}

interface Events {
  /** A method call from the client (we answer it with an error unless a handler replies). */
  call: [PeerMessage];
  close: [Error | undefined];
}

interface Pending {
  resolve: (m: PeerMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

type AuthState = 'nul' | 'auth' | 'negotiate' | 'messages';

/**
 * The authenticating server end of a peer-to-peer D-Bus link on a connected Unix socket fd (which it
 * takes over and closes). Auth: the client's NUL byte, `AUTH EXTERNAL <hex uid>` (the uid must be
 * ours: the peer is in this process or another of our user), `OK <guid>`, `NEGOTIATE_UNIX_FD` ->
 * `AGREE_UNIX_FD`, `BEGIN`. No Hello is expected (there is no bus daemon).
 */
export class DbusPeerServer extends EventEmitter<Events> {
  readonly guid = randomBytes(16).toString('hex');
  private readonly socket: USocketInstance;
  private state: AuthState = 'nul';
  private line: number[] = [];
  private serial = 1;
  private closed = false;
  private readonly pending = new Map<number, Pending>();
  private readonly ready: Promise<void>;
  private resolveReady: () => void = () => undefined;
  private rejectReady: (e: Error) => void = () => undefined;
  /** Whether the client negotiated fd passing. */
  unixFdAgreed = false;

  private readonly drainMessages: () => void;

  constructor(fd: number) {
    super();
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.socket = new USocket({ fd });
    this.socket.supportsUnixFd = true;
    this.drainMessages = createWireReader(
      this.socket,
      (message) => {
        this.dispatch(message);
      },
      (reason) => {
        this.close(new DbusLinkClosedError(`the client sent ${reason}`));
      },
      { convertVariants: true },
    );
    this.socket.on('error', (err: Error) => {
      this.close(err);
    });
    this.socket.on('end', () => {
      this.close();
    });
    this.socket.on('close', () => {
      this.close();
    });
    this.socket.on('readable', () => {
      this.onReadable();
    });
  }

  /** Resolves once the client said BEGIN; rejects when authentication failed or the link closed. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private onReadable(): void {
    while (!this.closed) {
      if (this.state === 'messages') {
        this.drainMessages();
        return;
      }
      const chunk = this.socket.read(1);
      if (!Buffer.isBuffer(chunk)) return;
      const byte = chunk[0] ?? 0;
      if (this.state === 'nul') {
        if (byte !== 0) {
          this.fail(`the client's first byte is 0x${byte.toString(16)}, not NUL`);
          return;
        }
        this.state = 'auth';
        continue;
      }
      if (byte !== 0x0a) {
        this.line.push(byte);
        if (this.line.length > MAX_AUTH_LINE) this.fail('auth line too long');
        continue;
      }
      const text = Buffer.from(this.line).toString('ascii').replace(/\r$/, '');
      this.line = [];
      this.onAuthLine(text);
    }
  }

  private onAuthLine(text: string): void {
    const writeLine = (s: string): void => {
      this.socket.write(Buffer.from(`${s}\r\n`, 'ascii'));
    };
    if (this.state === 'auth') {
      const m = /^AUTH EXTERNAL ([0-9a-fA-F]+)$/.exec(text);
      if (!m) {
        writeLine('REJECTED EXTERNAL');
        return;
      }
      const claimed = Buffer.from(m[1] ?? '', 'hex').toString('ascii');
      if (claimed !== String(process.getuid?.() ?? 0)) {
        writeLine('REJECTED EXTERNAL');
        return;
      }
      writeLine(`OK ${this.guid}`);
      this.state = 'negotiate';
      return;
    }
    if (text === 'NEGOTIATE_UNIX_FD') {
      this.unixFdAgreed = true;
      writeLine('AGREE_UNIX_FD');
    } else if (text === 'BEGIN') {
      this.state = 'messages';
      this.resolveReady(); // onReadable's loop goes on with any messages already buffered
    } else if (text === 'CANCEL') {
      writeLine('REJECTED EXTERNAL');
      this.state = 'auth';
    } else {
      writeLine('ERROR');
    }
  }

  private fail(reason: string): void {
    this.close(new DbusLinkClosedError(`D-Bus authentication failed: ${reason}`));
  }

  private dispatch(message: PeerMessage): void {
    if (message.type === MessageType.methodReturn || message.type === MessageType.error) {
      const pending = message.replySerial !== undefined ? this.pending.get(message.replySerial) : undefined;
      if (!pending || message.replySerial === undefined) return;
      this.pending.delete(message.replySerial);
      clearTimeout(pending.timer);
      if (message.type === MessageType.error) {
        const text = typeof message.body[0] === 'string' ? message.body[0] : '';
        pending.reject(new DbusErrorReply(message.errorName, text));
      } else {
        pending.resolve(message);
      }
      return;
    }
    if (message.type === MessageType.methodCall) {
      if (message.interface === 'org.freedesktop.DBus.Peer' && message.member === 'Ping') {
        // GDBus answers Ping on every connection, QEMU's listener links too (capture's backlog probe).
        if ((message.flags & FLAG_NO_REPLY_EXPECTED) === 0 && !this.closed) {
          void this.write({
            type: MessageType.methodReturn,
            serial: this.serial++,
            flags: FLAG_NO_REPLY_EXPECTED,
            replySerial: message.serial,
            signature: '',
            body: [],
          }).catch(() => undefined);
        }
        return;
      }
      if (this.listenerCount('call') > 0) this.emit('call', message);
      else if ((message.flags & FLAG_NO_REPLY_EXPECTED) === 0) {
        this.replyError(
          message,
          'org.freedesktop.DBus.Error.UnknownMethod',
          `no method ${message.interface}.${message.member} here`,
        );
      }
    }
  }

  /** Sends a call with NO_REPLY_EXPECTED; resolves once its bytes and fds are handed to the kernel. */
  send(message: OutgoingCall): Promise<void> {
    if (this.closed) return Promise.reject(new DbusLinkClosedError('the link is closed'));
    return this.write(this.callHeader(message, this.serial++, FLAG_NO_REPLY_EXPECTED), message.tail);
  }

  /**
   * Sends a call that wants a reply: resolves with the reply, rejects with DbusErrorReply on an
   * error reply and DbusTimeoutError after `timeoutMs` (GDBus' call timeout).
   */
  call(message: OutgoingCall, timeoutMs: number): Promise<PeerMessage> {
    if (this.closed) return Promise.reject(new DbusLinkClosedError('the link is closed'));
    const serial = this.serial++;
    const reply = new Promise<PeerMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(serial);
        reject(new DbusTimeoutError(`${message.member} got no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(serial, { resolve, reject, timer });
    });
    this.write(this.callHeader(message, serial, 0), message.tail).catch((error: unknown) => {
      const pending = this.pending.get(serial);
      if (!pending) return;
      this.pending.delete(serial);
      clearTimeout(pending.timer);
      pending.reject(error instanceof Error ? error : new Error(String(error)));
    });
    return reply;
  }

  private callHeader(
    message: OutgoingCall,
    serial: number,
    flags: number,
  ): Record<string, unknown> & { body: unknown[] } {
    return {
      type: MessageType.methodCall,
      serial,
      flags,
      path: message.path,
      interface: message.interface,
      member: message.member,
      signature: message.signature ?? '',
      body: message.body ?? [],
    };
  }

  /** Answers a call with an error (when it wants a reply). */
  replyError(call: PeerMessage, errorName: string, text: string): void {
    if ((call.flags & FLAG_NO_REPLY_EXPECTED) !== 0 || this.closed) return;
    void this.write({
      type: MessageType.error,
      serial: this.serial++,
      flags: FLAG_NO_REPLY_EXPECTED,
      replySerial: call.serial,
      errorName,
      signature: 's',
      body: [text],
    }).catch(() => undefined);
  }

  private write(message: Record<string, unknown> & { body: unknown[] }, tail?: Uint8Array): Promise<void> {
    let data: Buffer;
    let fds: number[];
    if (tail) {
      const signature = typeof message.signature === 'string' ? message.signature : '';
      if (!signature.endsWith('ay')) throw new TypeError(`a tail needs a signature ending in ay`);
      [data, fds] = marshallCompat.marshallMessage({ ...message, body: [...message.body, Buffer.alloc(0)] });
      // The empty array is the body's last 4 bytes (its length); the bytes follow it directly.
      data.writeUInt32LE(data.readUInt32LE(4) + tail.byteLength, 4);
      data.writeUInt32LE(tail.byteLength, data.length - 4);
    } else {
      [data, fds] = marshallCompat.marshallMessage(message);
    }
    if (fds.length > 0 && !this.unixFdAgreed) {
      return Promise.reject(new DbusLinkClosedError('the client did not negotiate fd passing'));
    }
    return new Promise((resolve, reject) => {
      const done = (error: Error | null | undefined): void => {
        if (error) reject(error);
        else resolve();
      };
      if (!tail) {
        this.socket.write({ data, fds }, done);
        return;
      }
      this.socket.write({ data, fds });
      this.socket.write(Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength), done);
    });
  }

  /** Closes the link; pending calls reject. Safe twice. */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new DbusLinkClosedError('the link closed before the reply', { cause: error }));
    }
    this.pending.clear();
    this.rejectReady(error ?? new DbusLinkClosedError('the link closed during authentication'));
    this.emit('close', error);
  }
}

import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { clientHandshake, marshallMessage } from './dbus-next-internals.js';
import { openFdSocket, type FdSocket } from './fd-socket.js';
import { DbusErrorReply, DbusLinkClosedError, DbusTimeoutError } from './peer-errors.js';
import { ServerHandshake } from './server-handshake.js';
import { FLAG_NO_REPLY_EXPECTED, MessageType, createWireReader, type WireMessage } from './wire-reader.js';

/** A method call from the peer. */
export interface IncomingCall extends WireMessage {
  /** Whether the sender waits for a reply. */
  wantsReply: boolean;
}

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

export interface PeerLinkOptions {
  /** Names the peer in errors ("QEMU sent a corrupt message"); default "the peer". */
  peerName?: string;
  /** Turn received bodies into dbus-next's plain JS form (Variants, objects for a{sv}). */
  convertVariants?: boolean;
  /** Answer org.freedesktop.DBus.Peer.Ping here, as GDBus does on every link (else it is a 'call'). */
  answerPing?: boolean;
}

interface Events {
  /** A method call (answered with UnknownMethod when nobody listens). */
  call: [IncomingCall];
  close: [Error | undefined];
}

interface Pending {
  resolve: (message: WireMessage) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

const closeFds = (fds: number[]): void => {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed: nothing to release
    }
  }
};

/**
 * One end of a peer-to-peer D-Bus link (no bus daemon, no Hello) on a connected Unix socket fd,
 * which it takes over and closes, with fd passing. `connect` authenticates as the client (EXTERNAL),
 * as capture does on QEMU's display listener link; `serve` is the authenticating server, as GDBus
 * is in QEMU (the test double of QEMU). The socket is read continuously: QEMU up to 9.1 queues
 * every Update without limit when a listener stops reading.
 */
export class PeerLink extends EventEmitter<Events> {
  /** The server's guid: ours when serving, the server's once authenticated as the client. */
  guid = '';
  /** Whether fd passing was agreed in the handshake. */
  unixFdAgreed = false;
  /** Bytes of every message the peer sent so far. */
  bytesReceived = 0;
  private readonly socket: FdSocket;
  private readonly peerName: string;
  private readonly answerPing: boolean;
  private serial = 1;
  private closed = false;
  private readonly pending = new Map<number, Pending>();
  private readonly ready: Promise<void>;
  private resolveReady: () => void = () => undefined;
  private rejectReady: (e: Error) => void = () => undefined;
  private readonly drainMessages: () => void;

  /** Our end authenticates as the client. */
  static connect(fd: number, opts: PeerLinkOptions = {}): PeerLink {
    return new PeerLink(fd, 'client', opts);
  }

  /** Our end is the authenticating server. */
  static serve(fd: number, opts: PeerLinkOptions = {}): PeerLink {
    return new PeerLink(fd, 'server', opts);
  }

  protected constructor(fd: number, role: 'client' | 'server', opts: PeerLinkOptions) {
    super();
    this.peerName = opts.peerName ?? 'the peer';
    this.answerPing = opts.answerPing === true;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.socket = openFdSocket(fd);
    this.drainMessages = createWireReader(
      this.socket,
      (message) => {
        this.dispatch(message);
      },
      (reason, fds) => {
        closeFds(fds);
        this.close(new DbusLinkClosedError(`${this.peerName} sent ${reason}`));
      },
      { convertVariants: opts.convertVariants === true },
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
    if (role === 'client') this.authenticate();
    else this.authenticateClient();
  }

  private authFailed(reason: string): void {
    this.close(new DbusLinkClosedError(`D-Bus authentication with ${this.peerName} failed: ${reason}`));
  }

  /** Client: dbus-next's handshake (EXTERNAL, NEGOTIATE_UNIX_FD, BEGIN), then messages. */
  private authenticate(): void {
    clientHandshake(this.socket, { authMethods: ['EXTERNAL'] }, (error, guid) => {
      if (this.closed) return;
      if (error !== null && error !== undefined) {
        this.authFailed(error instanceof Error ? error.message : JSON.stringify(error));
        return;
      }
      this.guid = guid ?? '';
      this.unixFdAgreed = this.socket.supportsUnixFd;
      this.socket.on('readable', this.drainMessages);
      this.drainMessages();
      this.resolveReady();
    });
  }

  /** Server: our handshake, then (in the same read, for what is already buffered) messages. */
  private authenticateClient(): void {
    const handshake = new ServerHandshake(this.socket);
    this.guid = handshake.guid;
    this.socket.on('readable', () => {
      if (this.closed) return;
      if (!handshake.done) {
        try {
          if (!handshake.read()) return;
        } catch (error) {
          this.authFailed(error instanceof Error ? error.message : String(error));
          return;
        }
        this.unixFdAgreed = handshake.unixFdAgreed;
        this.resolveReady();
      }
      this.drainMessages();
    });
  }

  /** Resolves once authenticated; rejects when authentication failed or the link closed first. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private dispatch(message: WireMessage): void {
    this.bytesReceived += message.bytes;
    if (message.type === MessageType.methodCall) {
      this.onCall({ ...message, wantsReply: (message.flags & FLAG_NO_REPLY_EXPECTED) === 0 });
      return;
    }
    const pending = message.replySerial !== undefined ? this.pending.get(message.replySerial) : undefined;
    if (!pending || message.replySerial === undefined || message.type === MessageType.signal) {
      closeFds(message.fds); // signals, replies to nothing we wait for: ignored
      return;
    }
    this.pending.delete(message.replySerial);
    clearTimeout(pending.timer);
    if (message.type === MessageType.error) {
      closeFds(message.fds);
      const text = typeof message.body[0] === 'string' ? message.body[0] : '';
      pending.reject(new DbusErrorReply(message.errorName, text));
    } else {
      pending.resolve(message); // the caller owns its fds
    }
  }

  private onCall(call: IncomingCall): void {
    if (this.answerPing && call.interface === 'org.freedesktop.DBus.Peer' && call.member === 'Ping') {
      closeFds(call.fds);
      this.reply(call);
    } else if (this.listenerCount('call') > 0) {
      this.emit('call', call); // the listener owns the call's fds
    } else {
      closeFds(call.fds);
      this.replyError(
        call,
        'org.freedesktop.DBus.Error.UnknownMethod',
        `no method ${call.interface}.${call.member} here`,
      );
    }
  }

  /** Answers a call (only when the caller wants a reply). */
  reply(call: IncomingCall, signature = '', body: unknown[] = []): void {
    if (!call.wantsReply || this.closed) return;
    this.write({ type: MessageType.methodReturn, replySerial: call.serial, signature, body }).catch(
      () => undefined,
    );
  }

  /** Answers a call with an error (only when the caller wants a reply). */
  replyError(call: IncomingCall, errorName: string, text: string): void {
    if (!call.wantsReply || this.closed) return;
    this.write({
      type: MessageType.error,
      replySerial: call.serial,
      errorName,
      signature: 's',
      body: [text],
    }).catch(() => undefined);
  }

  /** Sends a call with NO_REPLY_EXPECTED; resolves once its bytes and fds are handed to the kernel. */
  send(message: OutgoingCall): Promise<void> {
    if (this.closed) return Promise.reject(new DbusLinkClosedError('the link is closed'));
    return this.write(callFields(message), FLAG_NO_REPLY_EXPECTED, message.tail);
  }

  /**
   * Sends a call that wants a reply: resolves with the reply (its fds are the caller's), rejects
   * with DbusErrorReply on an error reply, DbusTimeoutError after `timeoutMs` (when given), and
   * DbusLinkClosedError when the link closes first.
   */
  call(message: OutgoingCall, timeoutMs?: number): Promise<WireMessage> {
    if (this.closed) return Promise.reject(new DbusLinkClosedError('the link is closed'));
    const serial = this.serial;
    const reply = new Promise<WireMessage>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(serial);
              reject(new DbusTimeoutError(`${message.member} got no reply in ${timeoutMs} ms`));
            }, timeoutMs);
      this.pending.set(serial, { resolve, reject, timer });
    });
    this.write(callFields(message), 0, message.tail).catch((error: unknown) => {
      const pending = this.pending.get(serial);
      if (!pending) return;
      this.pending.delete(serial);
      clearTimeout(pending.timer);
      pending.reject(error instanceof Error ? error : new Error(String(error)));
    });
    return reply;
  }

  /**
   * Calls org.freedesktop.DBus.Peer.Ping on the peer (GDBus answers it on any link).
   * `onReply(ok)` runs when the reply (or an error reply) arrives, never when the link closes first.
   * QEMU queues the reply behind everything it has queued for us: the round trip measures its backlog.
   */
  ping(onReply: (ok: boolean) => void): void {
    if (this.closed) return;
    this.call({ path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }).then(
      (reply) => {
        closeFds(reply.fds);
        onReply(true);
      },
      (error: unknown) => {
        if (error instanceof DbusErrorReply) onReply(false);
      },
    );
  }

  /** Marshals and writes one message with the next serial; `tail` as in OutgoingCall. */
  private write(
    fields: Record<string, unknown> & { body: unknown[] },
    flags = FLAG_NO_REPLY_EXPECTED,
    tail?: Uint8Array,
  ): Promise<void> {
    const message: Record<string, unknown> & { body: unknown[] } = {
      ...fields,
      serial: this.serial++,
      flags,
    };
    let data: Buffer;
    let fds: number[];
    if (tail) {
      const signature = typeof message.signature === 'string' ? message.signature : '';
      if (!signature.endsWith('ay'))
        return Promise.reject(new TypeError('a tail needs a signature ending in ay'));
      [data, fds] = marshallMessage({ ...message, body: [...message.body, Buffer.alloc(0)] });
      // The empty array is the body's last 4 bytes (its length); the bytes follow it directly.
      data.writeUInt32LE(data.readUInt32LE(4) + tail.byteLength, 4);
      data.writeUInt32LE(tail.byteLength, data.length - 4);
    } else {
      [data, fds] = marshallMessage(message);
    }
    if (fds.length > 0 && !this.unixFdAgreed) {
      return Promise.reject(new DbusLinkClosedError(`${this.peerName} did not negotiate fd passing`));
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

  /** Closes the link (QEMU then drops a listener); pending calls reject. Safe twice. */
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

function callFields(message: OutgoingCall): Record<string, unknown> & { body: unknown[] } {
  return {
    type: MessageType.methodCall,
    path: message.path,
    interface: message.interface,
    member: message.member,
    signature: message.signature ?? '',
    body: message.body ?? [],
  };
}

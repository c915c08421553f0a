import { EventEmitter } from 'node:events';
import clientHandshake from 'dbus-next/lib/handshake.js';
import DBusBuffer from 'dbus-next/lib/dbus-buffer.js';
import headerSignature from 'dbus-next/lib/header-signature.json' with { type: 'json' };
import dbusConstants from 'dbus-next/lib/constants.js';
import marshallCompat from 'dbus-next/lib/marshall-compat.js';
import { USocket } from 'usocket';
import { ProtocolError } from '@qemu-webrtc/common';
import { closeFd } from '@qemu-webrtc/frame-ring';

/** D-Bus message types and flags (dbus specification). */
export const MessageType = { methodCall: 1, methodReturn: 2, error: 3, signal: 4 } as const;
const FLAG_NO_REPLY_EXPECTED = 0x1;
const LITTLE_ENDIAN = 0x6c; // 'l'
/** Largest message we accept: a 4K RGBX Scanout is 64 MiB; the spec's limit is 128 MiB. */
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

export interface IncomingCall {
  serial: number;
  flags: number;
  path: string;
  interface: string;
  member: string;
  signature: string;
  body: unknown[];
  /** File descriptors that arrived with this message (the caller owns them). */
  fds: number[];
  /** Whether the sender waits for a reply. */
  wantsReply: boolean;
}

interface Events {
  call: [IncomingCall];
  close: [Error | undefined];
}

/**
 * Our end of a peer-to-peer D-Bus link with QEMU's display listener. We are the authenticating
 * client (EXTERNAL, fd passing negotiated) and never send Hello: there is no bus daemon. QEMU is the
 * caller; we only receive method calls and answer them. The socket is read continuously: QEMU up to
 * 9.1 queues every Update without limit when a listener stops reading.
 */
export class ListenerConnection extends EventEmitter<Events> {
  private readonly socket: USocket;
  private serial = 1;
  private closed = false;
  private header: Buffer | null = null;
  private readonly ready: Promise<void>;

  constructor(fd: number) {
    super();
    this.socket = new USocket({ fd });
    this.socket.supportsUnixFd = true;
    this.socket.on('error', (err: Error) => {
      this.close(err);
    });
    this.socket.on('end', () => {
      this.close();
    });
    this.socket.on('close', () => {
      this.close();
    });
    this.ready = new Promise((resolve, reject) => {
      clientHandshake(this.socket, { authMethods: ['EXTERNAL'] }, (error) => {
        if (error !== null && error !== undefined) {
          const err = new ProtocolError(
            `D-Bus authentication with QEMU failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
          );
          this.close(err);
          reject(err);
          return;
        }
        this.socket.on('readable', () => {
          this.drain();
        });
        this.drain();
        resolve();
      });
    });
    this.ready.catch(() => undefined);
  }

  /** Resolves once authenticated (QEMU's first call, Properties.GetAll, follows at once). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private drain(): void {
    while (!this.closed) {
      if (this.header === null) {
        const header = this.socket.read(16);
        if (!Buffer.isBuffer(header)) return;
        if (header[0] !== LITTLE_ENDIAN) {
          this.close(new ProtocolError('QEMU sent a big-endian or corrupt D-Bus message header'));
          return;
        }
        this.header = header;
      }
      const fieldsLength = this.header.readUInt32LE(12);
      const bodyLength = this.header.readUInt32LE(4);
      const total = (((fieldsLength + 7) >> 3) << 3) + bodyLength;
      if (total > MAX_MESSAGE_BYTES) {
        this.close(new ProtocolError(`QEMU sent a ${total}-byte D-Bus message, over the limit`));
        return;
      }
      // The bytes only: fds are taken per message below, as many as its header declares. (fds of
      // the next message can arrive with the tail of this one.)
      const chunk = this.socket.read(total, 0);
      if (chunk === null || Buffer.isBuffer(chunk) || chunk.data === null) return;
      const header = this.header;
      this.header = null;
      this.parse(header, chunk.data, fieldsLength);
    }
  }

  private parse(header: Buffer, rest: Buffer, fieldsLength: number): void {
    const type = header[1];
    const flags = header[2] ?? 0;
    const serial = header.readUInt32LE(8);
    let fields: Record<string, unknown>;
    let body: unknown[] = [];
    let fds: number[] = [];
    try {
      const buf = new DBusBuffer(rest, 0, LITTLE_ENDIAN, fds, { ayBuffer: true });
      const raw = buf.readArray(headerSignature[0]?.child[0], fieldsLength) as [
        number,
        [unknown, [unknown]],
      ][];
      buf.align(3);
      fields = {};
      for (const [code, [, [value]]] of raw) {
        const name = dbusConstants.headerTypeName[code];
        if (name) fields[name] = value;
      }
      const unixFds = typeof fields.unixFd === 'number' ? fields.unixFd : 0;
      if (unixFds > 0) {
        const taken = this.socket.read(0, unixFds);
        if (taken === null || Buffer.isBuffer(taken) || taken.fds.length !== unixFds) {
          throw new ProtocolError(`message declares ${unixFds} fds that did not arrive`);
        }
        fds = taken.fds;
        buf.fds = fds;
      }
      const signature = typeof fields.signature === 'string' ? fields.signature : '';
      if (signature !== '') body = buf.read(signature);
    } catch (error) {
      for (const fd of fds) closeFd(fd);
      this.close(new ProtocolError(`QEMU sent an undecodable D-Bus message: ${String(error)}`));
      return;
    }
    if (type !== MessageType.methodCall) return; // replies to nothing we sent, signals: ignore
    const text = (v: unknown): string => (typeof v === 'string' ? v : '');
    this.emit('call', {
      serial,
      flags,
      path: text(fields.path),
      interface: text(fields.interface),
      member: text(fields.member),
      signature: text(fields.signature),
      body,
      fds,
      wantsReply: (flags & FLAG_NO_REPLY_EXPECTED) === 0,
    });
  }

  /** Answers a call (only when the caller wants a reply). */
  reply(call: IncomingCall, signature = '', body: unknown[] = []): void {
    if (!call.wantsReply) return;
    this.send({ type: MessageType.methodReturn, replySerial: call.serial, signature, body });
  }

  replyError(call: IncomingCall, errorName: string, text: string): void {
    if (!call.wantsReply) return;
    this.send({ type: MessageType.error, replySerial: call.serial, errorName, signature: 's', body: [text] });
  }

  private send(message: Record<string, unknown>): void {
    if (this.closed) return;
    const [data, fds] = marshallCompat.marshallMessage({
      ...message,
      serial: this.serial++,
      flags: FLAG_NO_REPLY_EXPECTED,
    });
    this.socket.write({ data, fds });
  }

  /** Closes the link (QEMU then drops this listener). Safe twice. */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.emit('close', error);
  }
}

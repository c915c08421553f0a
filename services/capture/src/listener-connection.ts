import { EventEmitter } from 'node:events';
import clientHandshake from 'dbus-next/lib/handshake.js';
import marshallCompat from 'dbus-next/lib/marshall-compat.js';
import { USocket } from 'usocket';
import { ProtocolError } from '@qemu-webrtc/common';
import { closeFd } from '@qemu-webrtc/frame-ring';
import {
  FLAG_NO_REPLY_EXPECTED,
  MessageType,
  createWireReader,
  type WireMessage,
} from '@qemu-webrtc/qemu-dbus';

export interface IncomingCall extends WireMessage {
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
  private readonly ready: Promise<void>;
  /** Replies we wait for, by the serial of our call. */
  private readonly pending = new Map<number, (ok: boolean) => void>();
  /** Bytes of every message QEMU sent so far. */
  bytesReceived = 0;

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
        const drain = createWireReader(
          this.socket,
          (message) => {
            this.onMessage(message);
          },
          (reason, fds) => {
            for (const fd of fds) closeFd(fd);
            this.close(new ProtocolError(`QEMU sent ${reason}`));
          },
        );
        this.socket.on('readable', drain);
        drain();
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

  private onMessage(message: WireMessage): void {
    this.bytesReceived += message.bytes;
    if (message.type !== MessageType.methodCall) {
      for (const fd of message.fds) closeFd(fd);
      const done = message.replySerial !== undefined ? this.pending.get(message.replySerial) : undefined;
      if (done && message.replySerial !== undefined) {
        this.pending.delete(message.replySerial);
        done(message.type === MessageType.methodReturn);
      }
      return; // signals, replies to nothing we wait for: ignore
    }
    this.emit('call', { ...message, wantsReply: (message.flags & FLAG_NO_REPLY_EXPECTED) === 0 });
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

  /**
   * Calls org.freedesktop.DBus.Peer.Ping on QEMU (GDBus answers it on any connection).
   * `onReply(ok)` runs when the reply (or an error reply) arrives, never when the link closes first.
   * QEMU queues the reply behind everything it has queued for us: the round trip measures its backlog.
   */
  ping(onReply: (ok: boolean) => void): void {
    if (this.closed) return;
    const serial = this.serial;
    this.pending.set(serial, onReply);
    this.send(
      { type: MessageType.methodCall, path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' },
      0,
    );
  }

  private send(message: Record<string, unknown>, flags = FLAG_NO_REPLY_EXPECTED): void {
    if (this.closed) return;
    const [data, fds] = marshallCompat.marshallMessage({ ...message, serial: this.serial++, flags });
    this.socket.write({ data, fds });
  }

  /** Closes the link (QEMU then drops this listener). Safe twice. */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.pending.clear();
    this.socket.destroy();
    this.emit('close', error);
  }
}

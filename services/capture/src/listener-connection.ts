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
    if (message.type !== MessageType.methodCall) {
      for (const fd of message.fds) closeFd(fd);
      return; // replies to nothing we sent, signals: ignore
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

// The server side of D-Bus authentication, as GDBus does it for QEMU's display listener
// (G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER), minus GLib: EXTERNAL only, for our own uid.
// dbus-next has a client handshake but no server one.
import { randomBytes } from 'node:crypto';
import type { FdSocket } from './fd-socket.js';

const MAX_AUTH_LINE = 16 * 1024;

type AuthState = 'nul' | 'auth' | 'negotiate' | 'done';

/**
 * Reads the client's NUL byte, `AUTH EXTERNAL <hex uid>` (the uid must be ours: the peer is in this
 * process or another of our user), answers `OK <guid>`, `NEGOTIATE_UNIX_FD` -> `AGREE_UNIX_FD`,
 * then `BEGIN`. No Hello follows (there is no bus daemon).
 */
export class ServerHandshake {
  readonly guid = randomBytes(16).toString('hex');
  /** Whether the client negotiated fd passing. */
  unixFdAgreed = false;
  private state: AuthState = 'nul';
  private line: number[] = [];

  constructor(private readonly socket: FdSocket) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /**
   * Reads what the socket holds, a byte at a time (the messages after BEGIN stay unread). Returns
   * true once the client said BEGIN; throws (a reason) when the client broke the protocol.
   */
  read(): boolean {
    while (this.state !== 'done') {
      const chunk = this.socket.read(1);
      if (!Buffer.isBuffer(chunk)) return false;
      const byte = chunk[0] ?? 0;
      if (this.state === 'nul') {
        if (byte !== 0) throw new Error(`the client's first byte is 0x${byte.toString(16)}, not NUL`);
        this.state = 'auth';
        continue;
      }
      if (byte !== 0x0a) {
        this.line.push(byte);
        if (this.line.length > MAX_AUTH_LINE) throw new Error('auth line too long');
        continue;
      }
      const text = Buffer.from(this.line).toString('ascii').replace(/\r$/, '');
      this.line = [];
      this.onLine(text);
    }
    return true;
  }

  private onLine(text: string): void {
    const writeLine = (s: string): void => {
      this.socket.write(Buffer.from(`${s}\r\n`, 'ascii'));
    };
    if (this.state === 'auth') {
      const m = /^AUTH EXTERNAL ([0-9a-fA-F]+)$/.exec(text);
      const claimed = m ? Buffer.from(m[1] ?? '', 'hex').toString('ascii') : undefined;
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
      this.state = 'done';
    } else if (text === 'CANCEL') {
      writeLine('REJECTED EXTERNAL');
      this.state = 'auth';
    } else {
      writeLine('ERROR');
    }
  }
}

// usocket, typed once: a stream over a connected Unix socket fd that carries file descriptors along
// with the bytes (node's net.Socket cannot). dbus-next uses it for fd passing on a bus connection.
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';

const require = createRequire(import.meta.url);

export interface FdSocket extends Duplex {
  /** Whether fds may be passed (the D-Bus handshake negotiates it, and clears it when refused). */
  supportsUnixFd: boolean;
  /** `fdSize` set: reads bytes and fds separately, as `{ data, fds }`. */
  read(size?: number, fdSize?: number | null): Buffer | { data: Buffer | null; fds: number[] } | null;
  /** Also takes `{ data, fds }` to pass file descriptors along with the bytes. */
  write(chunk: unknown, callback?: (error: Error | null | undefined) => void): boolean;
  write(
    chunk: unknown,
    encoding: BufferEncoding,
    callback?: (error: Error | null | undefined) => void,
  ): boolean;
}

const { USocket } = require('usocket') as { USocket: new (opts: { fd: number }) => FdSocket };

/** Takes over a connected Unix socket fd (closed with the socket). */
export function openFdSocket(fd: number): FdSocket {
  const socket = new USocket({ fd });
  socket.supportsUnixFd = true;
  return socket;
}

// Types for the parts of dbus-next used below its public API: its wire format code, which we drive
// over a peer-to-peer socket (QEMU's listener link has no bus daemon, no Hello, and passes fds).
declare module 'dbus-next/lib/handshake.js' {
  import type { Duplex } from 'node:stream';
  function clientHandshake(
    stream: Duplex,
    opts: { authMethods?: string[] },
    done: (error: unknown, guid?: string) => void,
  ): void;
  export default clientHandshake;
}

// CommonJS modules: under ESM only their default export (module.exports) is reliable.
declare module 'dbus-next/lib/marshall-compat.js' {
  const marshallCompat: { marshallMessage(msg: object): [Buffer, number[]] };
  export default marshallCompat;
}

declare module 'usocket' {
  import { Duplex } from 'node:stream';
  export class USocket extends Duplex {
    constructor(opts: { fd: number } | { path: string });
    supportsUnixFd: boolean;
    fd: number;
    read(size?: number, fdSize?: number | null): Buffer | { data: Buffer | null; fds: number[] } | null;
    // Also takes { data, fds } to pass file descriptors along with the bytes.
    write(chunk: unknown, callback?: (error: Error | null | undefined) => void): boolean;
    write(
      chunk: unknown,
      encoding: BufferEncoding,
      callback?: (error: Error | null | undefined) => void,
    ): boolean;
  }
}

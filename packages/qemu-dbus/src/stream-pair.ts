// A connected pair of Unix stream sockets without native code: one end a net.Socket of ours, the
// other a bare fd to hand to QEMU with a D-Bus `h` argument (Chardev.Register). The pair is made
// through a listening socket in a private (0700) temporary folder, removed at once.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
interface UsocketClient {
  fd?: number;
  once(event: 'connected', cb: () => void): void;
  once(event: 'error', cb: (error: Error) => void): void;
  destroy(): void;
}
const { USocket } = require('usocket') as {
  USocket: new () => UsocketClient & { connect(path: string): void };
};

export interface StreamPair {
  /** Our end. */
  local: Socket;
  /** The other end's fd: pass it (the call dups it), then `closeRemote()`. */
  remoteFd: number;
  /** Closes our copy of the remote fd (safe twice). */
  closeRemote(): void;
}

/** Makes a connected pair; rejects after `timeoutMs` (default 2 s). */
export async function streamPair(timeoutMs = 2000): Promise<StreamPair> {
  const dir = mkdtempSync(join(tmpdir(), 'qw-pair-'));
  const path = join(dir, 's');
  const server: Server = createServer({ pauseOnConnect: true });
  const client = new USocket();
  const cleanup = (): void => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    const [local] = await Promise.race([
      Promise.all([
        new Promise<Socket>((resolve) => server.once('connection', resolve)),
        new Promise<void>((resolve, reject) => {
          client.once('connected', resolve);
          client.once('error', reject);
          client.connect(path);
        }),
      ]),
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`socket pair: no connection in ${timeoutMs} ms`)),
          timeoutMs,
        ).unref(),
      ),
    ]);
    const fd = client.fd;
    if (typeof fd !== 'number') throw new Error('socket pair: no fd for the client end');
    let closed = false;
    return {
      local,
      remoteFd: fd,
      closeRemote: () => {
        if (closed) return;
        closed = true;
        client.destroy();
      },
    };
  } catch (error) {
    client.destroy();
    throw error;
  } finally {
    cleanup();
  }
}

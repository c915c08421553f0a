import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css',
};

/**
 * A small HTTP server on loopback for pages a test builds itself (e.g. noVNC): fixed pages by
 * path, and directories served under a prefix (no listing, nothing outside the directory).
 */
export class StaticServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(pages: Record<string, string>, dirs: Record<string, string>): Promise<StaticServer> {
    const server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const page = pages[path];
      if (page !== undefined) {
        res.writeHead(200, { 'content-type': TYPES['.html'] });
        res.end(page);
        return;
      }
      for (const [prefix, dir] of Object.entries(dirs)) {
        if (!path.startsWith(prefix)) continue;
        const file = normalize(join(dir, path.slice(prefix.length)));
        if (!file.startsWith(dir + sep)) break;
        try {
          if (!statSync(file).isFile()) break;
        } catch {
          break;
        }
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
        createReadStream(file).pipe(res);
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new StaticServer(server, `http://127.0.0.1:${port}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

import type { FastifyInstance } from 'fastify';

/** Bytes of an oversized body read and thrown away, at most, so the client can read our 413. */
export const OVERSIZED_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Answers a request whose declared body (Content-Length) is over `limit` with a 413 the client can
 * read. fastify's own answer closes the socket while the client is still uploading: the client gets
 * a reset instead of the status. Here the complete 413 goes out at once (with Connection: close),
 * the rest of the body is read and discarded, up to `drainBytes`, and only then is the connection
 * closed. A body beyond that is cut (its client may miss the answer; nothing more is read).
 * Bodies without Content-Length (chunked) keep fastify's handling.
 */
export function answerOversizedBodies(
  app: FastifyInstance,
  limit: number,
  onRefused: () => void,
  drainBytes = OVERSIZED_DRAIN_BYTES,
): void {
  // Not calling `done` after hijacking ends fastify's part in the request.
  app.addHook('onRequest', (req, reply, done) => {
    const declared = Number(req.headers['content-length']);
    if (!(declared > limit)) {
      done();
      return;
    }
    onRefused();
    reply.hijack();
    const res = reply.raw;
    const body = `request body larger than ${limit} bytes\n`;
    res.writeHead(413, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    res.write(body);
    const raw = req.raw;
    let seen = 0;
    const finish = (): void => {
      if (!res.writableEnded) res.end();
    };
    raw.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > drainBytes) raw.socket.destroy();
    });
    raw.once('end', finish);
    raw.once('close', finish);
    raw.once('error', () => raw.socket.destroy());
    raw.resume();
  });
}

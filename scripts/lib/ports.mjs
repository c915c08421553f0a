// Ports: fixed before anything starts (a restarted service comes back on the same one), and each
// one checked free, so a busy port is named instead of a service failing to listen later.
import { createServer } from 'node:net';
import { StartCheckError } from './start-check-error.mjs';

/** Listens on host:port and closes again; resolves with the bound port, or the error's code. */
/**
 * @param {number} port
 * @param {string} host
 * @returns {Promise<{ port: number, error?: undefined } | { error: string }>}
 */
function tryListen(port, host) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (/** @type {NodeJS.ErrnoException} */ error) =>
      resolve({ error: error.code ?? error.message }),
    );
    server.listen({ port, host, exclusive: true }, () => {
      const bound = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
      server.close(() => resolve({ port: bound }));
    });
  });
}

/** A TCP port nobody listens on right now (the kernel's choice). */
export async function freePort(host = '127.0.0.1') {
  const r = await tryListen(0, host);
  if (r.error !== undefined) throw new StartCheckError(`cannot find a free port on ${host} (${r.error})`);
  return r.port;
}

/**
 * Checks each { port, host, what, option } can be listened on (port 0 was resolved before).
 * Throws a StartCheckError naming the first busy one and the option that moves it.
 * @param {{ port: number, host: string, what: string, option: string }[]} ports
 */
export async function checkPortsFree(ports) {
  for (const { port, host, what, option } of ports) {
    const r = await tryListen(port, host);
    if (r.error === 'EADDRINUSE') {
      throw new StartCheckError(
        `port ${port} (${what}) is in use: pass ${option} N or ${option} 0 (a free one)`,
      );
    }
    if (r.error === 'EACCES') {
      throw new StartCheckError(
        `port ${port} (${what}) needs privileges this user lacks: pass ${option} N (above 1023) or ${option} 0`,
      );
    }
    if (r.error !== undefined) {
      throw new StartCheckError(`cannot listen on ${host}:${port} (${what}): ${r.error}; pass ${option} N`);
    }
  }
}
